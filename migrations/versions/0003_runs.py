"""Runs are records: every backtest, sweep and replay, with its fills, trades and equity curve.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('runs',
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('strategy', sa.Text(), nullable=False),
    sa.Column('params', postgresql.JSONB(), nullable=False),
    sa.Column('config', postgresql.JSONB(), nullable=False),
    sa.Column('data_source', sa.Text(), nullable=False),
    sa.Column('code_version', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('progress', sa.Numeric(), nullable=False, server_default=sa.text('0')),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('stats', postgresql.JSONB(), nullable=True),
    sa.Column('bars', sa.BigInteger(), nullable=True),
    sa.Column('symbols', postgresql.ARRAY(sa.Text()), nullable=True),
    sa.CheckConstraint("kind IN ('backtest', 'sweep', 'replay')", name='runs_kind'),
    sa.CheckConstraint("status IN ('queued', 'running', 'done', 'failed')", name='runs_status'),
    sa.PrimaryKeyConstraint('run_id', name='runs_pkey')
    )
    op.create_index('runs_created_at', 'runs', ['created_at'], unique=False)
    op.create_table('run_fills',
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('side', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Numeric(), nullable=False),
    sa.Column('price', sa.Numeric(), nullable=False),
    sa.Column('commission', sa.Numeric(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'seq', name='run_fills_pkey')
    )
    op.create_table('run_trades',
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('direction', sa.Text(), nullable=False),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('pnl', sa.Numeric(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'seq', name='run_trades_pkey')
    )
    op.create_table('run_equity',
    sa.Column('run_id', sa.Text(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('equity', sa.Numeric(), nullable=False),
    sa.Column('drawdown', sa.Numeric(), nullable=False),
    sa.ForeignKeyConstraint(['run_id'], ['runs.run_id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'seq', name='run_equity_pkey')
    )


def downgrade() -> None:
    op.drop_table('run_equity')
    op.drop_table('run_trades')
    op.drop_table('run_fills')
    op.drop_index('runs_created_at', table_name='runs')
    op.drop_table('runs')
