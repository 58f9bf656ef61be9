"""alerts carry the mode of what they are about

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 10:05:00

``alerts.livemode``: true for an incident about real money (a live payment, a production account), false
for test data (a test-mode payment, a sandbox account), NULL when an alert is about neither (the operator's
summaries). A merchant's test key lists its test alerts, its live key its live ones; test alerts go to the
merchant's alert webhook only, never by e-mail or SMS. Alerts stored before this revision keep NULL and are
shown to both keys, as they were. Added with plain ``ADD COLUMN`` (no table rebuild on SQLite).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('livemode', sa.Boolean(), nullable=True))


def downgrade() -> None:
    op.drop_column('alerts', 'livemode')
