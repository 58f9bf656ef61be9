"""failed authentications counted across processes

Revision ID: 0026
Revises: 0025
Create Date: 2026-11-27 17:00:00

The failure limiter counts the window's ``auth.failed`` audit events per address and per presented key's
label in the database, so that every server process sees the failures of all of them. Two partial indexes
on those events alone keep the count a short range scan however long the audit log grows (five years).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0026'
down_revision = '0025'
branch_labels = None
depends_on = None

_FAILED = sa.text("action = 'auth.failed'")


def upgrade() -> None:
    op.create_index('ix_audit_events_failed_origin', 'audit_events', ['origin', 'occurred_at'],
                    sqlite_where=_FAILED, postgresql_where=_FAILED)
    op.create_index('ix_audit_events_failed_actor', 'audit_events', ['actor', 'occurred_at'],
                    sqlite_where=_FAILED, postgresql_where=_FAILED)


def downgrade() -> None:
    op.drop_index('ix_audit_events_failed_actor', table_name='audit_events')
    op.drop_index('ix_audit_events_failed_origin', table_name='audit_events')
