"""events: a merchant's events newest first (``GET /v1/events``)

Revision ID: 0021
Revises: 0020
Create Date: 2026-11-27 09:10:00

``ix_events_merchant_created (merchant_id, livemode, created_at, id)`` pages a merchant's events like
payments' and refunds' lists. It replaces ``ix_events_merchant_id``, its prefix, so an event (written on
every payment's callback) still maintains one index besides its keys.
"""

from __future__ import annotations

from alembic import op

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_events_merchant_created', 'events', ['merchant_id', 'livemode', 'created_at', 'id'])
    op.drop_index('ix_events_merchant_id', table_name='events')


def downgrade() -> None:
    op.create_index('ix_events_merchant_id', 'events', ['merchant_id'])
    op.drop_index('ix_events_merchant_created', table_name='events')
