"""dashboard sign-in sessions

Revision ID: 0025
Revises: 0024
Create Date: 2026-11-27 15:00:00

The dashboard's sessions (indiepay.dashboard): the cookie token's hash, the hash of the API key signed in
with (never the key), the session's CSRF token, expiry and sign-out.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None

_TIME = indiepay.db.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        'dashboard_sessions',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('key_hash', sa.String(length=64), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('origin', sa.String(length=64), nullable=True),
        sa.Column('created_at', _TIME, nullable=False),
        sa.Column('expires_at', _TIME, nullable=False),
        sa.Column('ended_at', _TIME, nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('token_hash'),
    )


def downgrade() -> None:
    op.drop_table('dashboard_sessions')
