"""on SQLite the merchant's recent-payments index carries what admission counts, so it reads no table row

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-26 12:00:00

Every payment's admission measures the merchant's payments since the start of the business day (today's
volume by account, the risk rules' velocity and failure windows) and, once a day per process, its 30-day
history. Through ``ix_payments_merchant_created (merchant_id, livemode, created_at, id)`` SQLite then
looks up every one of those rows in the table — a page each, cold — for status, amount, account and payer.
On SQLite the index is rebuilt with those columns after its own (``status, amount, channel_account_id,
payer``): the same prefix, so listing and pagination use it as before, and the measure reads index pages
only (bench/risk: the measure 0.46 → 0.27 ms at p50). The price is a wider index and one more index entry
moved when a payment's status changes.

PostgreSQL keeps the four-column index: a ``json`` column cannot be a B-tree key there, and an
``INCLUDE`` would serve index-only scans only for pages VACUUM has marked all-visible, which today's rows
seldom are.
"""

from __future__ import annotations

from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

NAME = 'ix_payments_merchant_created'
KEY = ['merchant_id', 'livemode', 'created_at', 'id']
CARRIED = ['status', 'amount', 'channel_account_id', 'payer']


def upgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.drop_index(NAME, table_name='payments')
    op.create_index(NAME, 'payments', KEY + CARRIED)


def downgrade() -> None:
    if op.get_bind().dialect.name != 'sqlite':
        return
    op.drop_index(NAME, table_name='payments')
    op.create_index(NAME, 'payments', KEY)
