"""Cancel requests and their answers (ledger_cancels).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_cancels',
    sa.Column('cancel_id', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('request_sequence', sa.BigInteger(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('outcome_exec_id', sa.Text(), nullable=True),
    sa.Column('outcome_reason', sa.Text(), nullable=True),
    sa.Column('outcome_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome_sequence', sa.BigInteger(), nullable=True),
    sa.CheckConstraint("status IN ('requested', 'canceled', 'rejected')", name='ledger_cancels_status'),
    sa.PrimaryKeyConstraint('cancel_id')
    )
    op.create_index('ledger_cancels_order', 'ledger_cancels', ['order_id'], unique=False)


def downgrade() -> None:
    op.drop_index('ledger_cancels_order', table_name='ledger_cancels')
    op.drop_table('ledger_cancels')
