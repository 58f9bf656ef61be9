"""bank transfers: the receiving account's statement lines (every incoming transfer, matched or not)

Revision ID: 0024
Revises: 0023
Create Date: 2026-11-27 13:00:00

A financial record like those of 0005: DELETE refused (and TRUNCATE on PostgreSQL, through 0005's
function); an unmatched line is matched later by changing its status, never removed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None

_TIME = indiepay.db.base.UTCDateTime(timezone=True)
TABLE = "bank_statement_lines"
PG_FUNCTION = "indiepay_refuse_change"  # created by 0005


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), sa.ForeignKey('merchants.id'), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('channel_account_id', sa.String(length=40), sa.ForeignKey('channel_accounts.id'), nullable=False),
        sa.Column('bank_txn_id', sa.String(length=64), nullable=False),
        sa.Column('booked_at', _TIME, nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('currency', sa.String(length=3), nullable=False),
        sa.Column('payer_name', sa.String(length=100), nullable=True),
        sa.Column('memo', sa.String(length=200), nullable=True),
        sa.Column('source', sa.String(length=16), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.String(length=32), nullable=True),
        sa.Column('payment_id', sa.String(length=40), sa.ForeignKey('payments.id'), nullable=True),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('updated_at', _TIME, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('channel_account_id', 'bank_txn_id', name='uq_bank_statement_lines_txn'),
    )
    op.create_index('ix_bank_statement_lines_merchant', TABLE, ['merchant_id', 'livemode', 'status', 'booked_at'])
    message = f"{TABLE} holds financial records: DELETE refused; financial records are never deleted"
    if op.get_bind().dialect.name != "postgresql":
        op.execute(f"CREATE TRIGGER {TABLE}_refuse_delete BEFORE DELETE ON {TABLE} "
                   f"BEGIN SELECT RAISE(ABORT, '{message}'); END")
        return
    op.execute(f"CREATE TRIGGER {TABLE}_refuse_delete BEFORE DELETE ON {TABLE} "
               f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}('{message}')")
    truncate = f"{TABLE} holds financial records: TRUNCATE refused; financial records are never deleted"
    op.execute(f"CREATE TRIGGER {TABLE}_refuse_truncate BEFORE TRUNCATE ON {TABLE} "
               f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}('{truncate}')")


def downgrade() -> None:
    op.drop_table(TABLE)
