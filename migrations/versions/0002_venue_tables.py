"""Venue executors' table: position anomalies (a venue's position against the ledger's).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_position_anomalies',
    sa.Column('id', sa.BigInteger(), sa.Identity(), nullable=False),
    sa.Column('venue', sa.Text(), nullable=False),
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('venue_quantity', sa.Numeric(), nullable=False),
    sa.Column('ledger_quantity', sa.Numeric(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('detected_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name='ledger_position_anomalies_pkey')
    )
    op.create_index('ledger_position_anomalies_symbol', 'ledger_position_anomalies', ['venue', 'symbol', 'id'])


def downgrade() -> None:
    op.drop_index('ledger_position_anomalies_symbol', table_name='ledger_position_anomalies')
    op.drop_table('ledger_position_anomalies')
