"""The ledger's tables: orders, fills, positions, cash, the audit trail, checkpoints and anomalies.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('ledger_anomalies',
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('stream_sequence', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=True),
    sa.Column('exec_id', sa.Text(), nullable=True),
    sa.Column('symbol', sa.Text(), nullable=True),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('stream', 'stream_sequence', 'kind', name='ledger_anomalies_pkey')
    )
    op.create_index('ledger_anomalies_unknown_order', 'ledger_anomalies', ['order_id'], unique=False, postgresql_where=sa.text("kind = 'unknown_order'"))
    op.create_table('ledger_cash',
    sa.Column('account', sa.Text(), nullable=False),
    sa.Column('starting_balance', sa.Numeric(), nullable=False),
    sa.Column('balance', sa.Numeric(), nullable=False),
    sa.Column('commissions', sa.Numeric(), nullable=False),
    sa.Column('fills', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('account')
    )
    op.create_table('ledger_checkpoints',
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('last_sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('stream')
    )
    op.create_table('ledger_events',
    sa.Column('stream', sa.Text(), nullable=False),
    sa.Column('stream_sequence', sa.BigInteger(), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('msg_id', sa.Text(), nullable=True),
    sa.Column('event_type', sa.Text(), nullable=False),
    sa.Column('event_id', sa.Text(), nullable=True),
    sa.Column('order_id', sa.Text(), nullable=True),
    sa.Column('duplicate', sa.Boolean(), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('raw', sa.LargeBinary(), nullable=True),
    sa.Column('headers', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('stream', 'stream_sequence', name='ledger_events_pkey')
    )
    op.create_index('ledger_events_event_id', 'ledger_events', ['stream', 'event_id'], unique=True, postgresql_where=sa.text('NOT duplicate AND event_id IS NOT NULL'))
    op.create_table('ledger_fills',
    sa.Column('exec_id', sa.Text(), nullable=False),
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('side', sa.Text(), nullable=True),
    sa.Column('quantity', sa.Numeric(), nullable=False),
    sa.Column('price', sa.Numeric(), nullable=False),
    sa.Column('commission', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('realized_pnl', sa.Numeric(), nullable=True),
    sa.Column('executed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stream_sequence', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('exec_id')
    )
    op.create_index('ledger_fills_executed', 'ledger_fills', ['executed_at'], unique=False)
    op.create_index('ledger_fills_order', 'ledger_fills', ['order_id'], unique=False)
    op.create_index('ledger_fills_symbol', 'ledger_fills', ['symbol', 'stream_sequence'], unique=False)
    op.create_table('ledger_orders',
    sa.Column('order_id', sa.Text(), nullable=False),
    sa.Column('strategy_id', sa.Text(), nullable=True),
    sa.Column('signal_id', sa.Text(), nullable=True),
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('side', sa.Text(), nullable=False),
    sa.Column('order_type', sa.Text(), nullable=False),
    sa.Column('time_in_force', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Numeric(), nullable=False),
    sa.Column('limit_price', sa.Numeric(), nullable=True),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('filled_quantity', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('filled_notional', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('average_price', sa.Numeric(), nullable=True),
    sa.Column('commission', sa.Numeric(), server_default=sa.text('0'), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('stream_sequence', sa.BigInteger(), nullable=False),
    sa.CheckConstraint("status IN ('new', 'partially_filled', 'filled', 'canceled', 'rejected', 'expired')", name='ledger_orders_status'),
    sa.PrimaryKeyConstraint('order_id')
    )
    op.create_index('ledger_orders_open', 'ledger_orders', ['status'], unique=False, postgresql_where=sa.text("status IN ('new', 'partially_filled')"))
    op.create_index('ledger_orders_symbol', 'ledger_orders', ['symbol'], unique=False)
    op.create_table('ledger_positions',
    sa.Column('symbol', sa.Text(), nullable=False),
    sa.Column('quantity', sa.Numeric(), nullable=False),
    sa.Column('average_price', sa.Numeric(), nullable=False),
    sa.Column('cost_basis', sa.Numeric(), nullable=False),
    sa.Column('realized_pnl', sa.Numeric(), nullable=False),
    sa.Column('commissions', sa.Numeric(), nullable=False),
    sa.Column('fills', sa.BigInteger(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('symbol')
    )


def downgrade() -> None:
    op.drop_table('ledger_positions')
    op.drop_index('ledger_orders_symbol', table_name='ledger_orders')
    op.drop_index('ledger_orders_open', table_name='ledger_orders', postgresql_where=sa.text("status IN ('new', 'partially_filled')"))
    op.drop_table('ledger_orders')
    op.drop_index('ledger_fills_symbol', table_name='ledger_fills')
    op.drop_index('ledger_fills_order', table_name='ledger_fills')
    op.drop_index('ledger_fills_executed', table_name='ledger_fills')
    op.drop_table('ledger_fills')
    op.drop_index('ledger_events_event_id', table_name='ledger_events', postgresql_where=sa.text('NOT duplicate AND event_id IS NOT NULL'))
    op.drop_table('ledger_events')
    op.drop_table('ledger_checkpoints')
    op.drop_table('ledger_cash')
    op.drop_index('ledger_anomalies_unknown_order', table_name='ledger_anomalies', postgresql_where=sa.text("kind = 'unknown_order'"))
    op.drop_table('ledger_anomalies')
