"""profit sharing (分账): receivers, sharing orders and their lines, returns; payments opened for sharing

Revision ID: 0023
Revises: 0022
Create Date: 2026-11-27 11:30:00

``payments`` gets ``profit_sharing``, ``shared_reserved`` and ``sharing_finished`` by plain ``ALTER TABLE …
ADD COLUMN`` (no SQLite table copy, so the table keeps its triggers and indexes). The four new tables hold
financial records: like those of 0005 they refuse DELETE (and TRUNCATE on PostgreSQL, through 0005's
function); a receiver is withdrawn by its status, never deleted.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

_TIME = indiepay.db.base.UTCDateTime(timezone=True)
NEVER_DELETED = ("sharing_receivers", "sharing_orders", "sharing_lines", "sharing_returns")
PG_FUNCTION = "indiepay_refuse_change"  # created by 0005


def _guard(table: str) -> None:
    message = f"{table} holds financial records: DELETE refused; financial records are never deleted"
    if op.get_bind().dialect.name != "postgresql":
        op.execute(f"CREATE TRIGGER {table}_refuse_delete BEFORE DELETE ON {table} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        return
    op.execute(f"CREATE TRIGGER {table}_refuse_delete BEFORE DELETE ON {table} "
               f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}('{message}')")
    truncate = f"{table} holds financial records: TRUNCATE refused; financial records are never deleted"
    op.execute(f"CREATE TRIGGER {table}_refuse_truncate BEFORE TRUNCATE ON {table} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}('{truncate}')")


def upgrade() -> None:
    op.add_column('payments', sa.Column('profit_sharing', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.add_column('payments', sa.Column('shared_reserved', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('payments', sa.Column('sharing_finished', sa.Boolean(), nullable=False,
                                        server_default=sa.false()))
    op.create_table(
        'sharing_receivers',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('channel_account_id', sa.String(length=40), sa.ForeignKey('channel_accounts.id'), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('type', sa.String(length=24), nullable=False),
        sa.Column('account', sa.String(length=128), nullable=False),
        sa.Column('relation', sa.String(length=32), nullable=False),
        sa.Column('name_hint', sa.String(length=8), nullable=True),
        sa.Column('description', sa.String(length=80), nullable=True),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('updated_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel_account_id', 'type', 'account', name='uq_sharing_receivers_account'),
    )
    op.create_index('ix_sharing_receivers_merchant', 'sharing_receivers',
                    ['merchant_id', 'livemode', 'created_at', 'id'])
    op.create_table(
        'sharing_orders',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('payment_id', sa.String(length=40), sa.ForeignKey('payments.id'), nullable=False),
        sa.Column('channel_account_id', sa.String(length=40), sa.ForeignKey('channel_accounts.id'), nullable=False),
        sa.Column('out_order_no', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('finish', sa.Boolean(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('unfrozen_amount', sa.BigInteger(), nullable=True),
        sa.Column('channel_order_id', sa.String(length=64), nullable=True),
        sa.Column('failure_code', sa.String(length=64), nullable=True),
        sa.Column('failure_message', sa.Text(), nullable=True),
        sa.Column('query_attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('updated_at', _TIME, nullable=False),
        sa.Column('finished_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('merchant_id', 'livemode', 'out_order_no', name='uq_sharing_orders_out_order_no'),
    )
    op.create_index('ix_sharing_orders_merchant', 'sharing_orders', ['merchant_id', 'livemode', 'created_at', 'id'])
    op.create_index('ix_sharing_orders_payment_id', 'sharing_orders', ['payment_id'])
    op.create_table(
        'sharing_lines',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('order_id', sa.String(length=40), sa.ForeignKey('sharing_orders.id'), nullable=False),
        sa.Column('receiver_id', sa.String(length=40), sa.ForeignKey('sharing_receivers.id'), nullable=False),
        sa.Column('position', sa.Integer(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('description', sa.String(length=80), nullable=False),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('fail_reason', sa.String(length=64), nullable=True),
        sa.Column('detail_id', sa.String(length=64), nullable=True),
        sa.Column('returned_amount', sa.BigInteger(), nullable=False),
        sa.Column('return_reserved', sa.BigInteger(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('finished_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_sharing_lines_order_id', 'sharing_lines', ['order_id'])
    op.create_table(
        'sharing_returns',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('order_id', sa.String(length=40), sa.ForeignKey('sharing_orders.id'), nullable=False),
        sa.Column('line_id', sa.String(length=40), sa.ForeignKey('sharing_lines.id'), nullable=False),
        sa.Column('out_return_no', sa.String(length=64), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('description', sa.String(length=80), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('channel_return_id', sa.String(length=64), nullable=True),
        sa.Column('failure_code', sa.String(length=64), nullable=True),
        sa.Column('query_attempts', sa.Integer(), nullable=False),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('updated_at', _TIME, nullable=False),
        sa.Column('finished_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('merchant_id', 'livemode', 'out_return_no', name='uq_sharing_returns_out_return_no'),
    )
    op.create_index('ix_sharing_returns_order_id', 'sharing_returns', ['order_id'])
    for table in NEVER_DELETED:
        _guard(table)


def downgrade() -> None:
    op.drop_table('sharing_returns')
    op.drop_table('sharing_lines')
    op.drop_table('sharing_orders')
    op.drop_table('sharing_receivers')
    op.drop_column('payments', 'sharing_finished')
    op.drop_column('payments', 'shared_reserved')
    op.drop_column('payments', 'profit_sharing')
