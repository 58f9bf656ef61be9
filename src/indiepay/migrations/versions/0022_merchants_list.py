"""merchants: the operator's list, newest first (``GET /v1/merchants``)

Revision ID: 0022
Revises: 0021
Create Date: 2026-11-27 09:20:00
"""

from __future__ import annotations

from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_merchants_created', 'merchants', ['created_at', 'id'])


def downgrade() -> None:
    op.drop_index('ix_merchants_created', table_name='merchants')
