"""audit events carry the mode of what they are about

Revision ID: 0029
Revises: 0028
Create Date: 2026-11-28 09:00:00

``audit_events.livemode``: true for an event about a production account or real money (a live payment,
refund, key, sharing order), false for one about a sandbox account or test data, NULL for one about
neither (the merchant itself, its alert channels). A merchant's test key lists its test events, its live
key its live ones, both list the NULL ones (see ``indiepay.audit.modes``). New events cover it in their hash.

Existing events are not backfilled in place: the table is append-only (its triggers refuse UPDATE) and
hash-chained, and rewriting its rows would mean lifting the guard the log exists for. Their mode is
derived from their target when they are listed instead. Added with plain ``ADD COLUMN`` — never a SQLite
table copy, which would drop the append-only triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0029'
down_revision = '0028'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('audit_events', sa.Column('livemode', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('audit_events', 'livemode')
