"""the numbers the channel knows payments and refunds by

Revision ID: 0028
Revises: 0027
Create Date: 2026-11-27 21:30:00

A merchant's out_trade_no / out_refund_no is unique among its own orders only, yet every merchant collecting
through the platform shares the platform's channel account: two merchants' ORDER1 were one order there (one
merchant's callback marked the other's payment paid). Payments and refunds now carry the number the channel
knows them by (indiepay.payments.order_numbers): the merchant's own on its own account, one made from the id
on the platform's. Rows written before were sent under the merchant's number, which is therefore their
channel number. Callbacks and reconciliation find an order by (account, channel number): the index of
(account, out_trade_no) gives way to one on it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0028'
down_revision = '0027'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a plain ADD COLUMN on both databases (no table rebuild: payments carries triggers on SQLite)
    op.add_column('payments', sa.Column('channel_out_trade_no', sa.String(length=64), nullable=False,
                                        server_default=''))
    op.add_column('refunds', sa.Column('channel_out_refund_no', sa.String(length=64), nullable=False,
                                       server_default=''))
    op.execute("UPDATE payments SET channel_out_trade_no = out_trade_no")
    op.execute("UPDATE refunds SET channel_out_refund_no = out_refund_no")
    op.drop_index('ix_payments_account_order', table_name='payments')
    op.create_index('ix_payments_account_channel_order', 'payments', ['channel_account_id', 'channel_out_trade_no'])
    op.create_index('ix_refunds_channel_order', 'refunds', ['channel_out_refund_no'])


def downgrade() -> None:
    op.drop_index('ix_refunds_channel_order', table_name='refunds')
    op.drop_index('ix_payments_account_channel_order', table_name='payments')
    op.create_index('ix_payments_account_order', 'payments', ['channel_account_id', 'out_trade_no'])
    op.drop_column('refunds', 'channel_out_refund_no')
    op.drop_column('payments', 'channel_out_trade_no')
