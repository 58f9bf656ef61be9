"""refunds: an index for a merchant's refund list (``GET /v1/refunds``), newest first

Revision ID: 0020
Revises: 0019
Create Date: 2026-11-27 09:00:00

The list pages by ``(created_at, id)`` within a merchant and mode, like payments'
``ix_payments_merchant_created``. A plain ``CREATE INDEX``: ``refunds`` is guarded by triggers (never
deleted), so it is not rebuilt through a batch copy.
"""

from __future__ import annotations

from alembic import op

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_refunds_merchant_created', 'refunds', ['merchant_id', 'livemode', 'created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_refunds_merchant_created', table_name='refunds')
