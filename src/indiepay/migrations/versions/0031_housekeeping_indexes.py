"""indexes for housekeeping: idempotency records and webhook deliveries by date

Revision ID: 0031
Revises: 0030
Create Date: 2026-11-28 00:00:00

The daily ``housekeeping.prune`` job deletes idempotency records and webhook delivery logs past use, oldest
first, a batch a transaction; without an index on their date each batch would scan the whole table (millions
of rows on a busy platform) while holding SQLite's write lock. Plain ``CREATE INDEX``: no table copy.
"""

from __future__ import annotations

from alembic import op

revision = '0031'
down_revision = '0030'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_idempotency_keys_created_at', 'idempotency_keys', ['created_at'], unique=False)
    op.create_index('ix_webhook_deliveries_created_at', 'webhook_deliveries', ['created_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_webhook_deliveries_created_at', table_name='webhook_deliveries')
    op.drop_index('ix_idempotency_keys_created_at', table_name='idempotency_keys')
