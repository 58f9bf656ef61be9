"""the transactions export's indexes

Revision ID: 0027
Revises: 0026
Create Date: 2026-11-27 17:30:00

The transactions export (indiepay.statements.transactions) reads a merchant's payments by the time they were
paid and its refunds by the time they succeeded, in keyset pages: two partial indexes on exactly those
(only rows whose money moved are in them, so they stay small and cost nothing on an unpaid order).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0027'
down_revision = '0026'
branch_labels = None
depends_on = None

_PAID = sa.text("paid_at IS NOT NULL")
_SUCCEEDED = sa.text("succeeded_at IS NOT NULL")


def upgrade() -> None:
    op.create_index('ix_payments_merchant_paid', 'payments', ['merchant_id', 'livemode', 'paid_at', 'id'],
                    sqlite_where=_PAID, postgresql_where=_PAID)
    op.create_index('ix_refunds_merchant_succeeded', 'refunds', ['merchant_id', 'livemode', 'succeeded_at', 'id'],
                    sqlite_where=_SUCCEEDED, postgresql_where=_SUCCEEDED)


def downgrade() -> None:
    op.drop_index('ix_refunds_merchant_succeeded', table_name='refunds')
    op.drop_index('ix_payments_merchant_paid', table_name='payments')
