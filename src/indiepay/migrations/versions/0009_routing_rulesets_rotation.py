"""account weights, stored risk rule sets, credential rotation

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 06:00:00

``channel_accounts.weight`` is the traffic share of a primary among its merchant's primaries of the same
channel and environment (routing splits by it). ``channel_accounts.previous_credentials`` keeps the sealed
credentials a rotation replaced, so callbacks signed for in-flight payments still verify until the new
credentials have been verified by a test payment (``previous_credentials_until`` bounds that window).
``ix_payments_account_created`` lets an account's daily-cap usage read only today's payments.
``risk_rulesets`` stores each rule set the operator puts in force through ``PUT /v1/risk/rules``: versions
are never edited, the newest is the one in force. Columns are added with plain ``ALTER TABLE … ADD COLUMN``
so SQLite keeps its triggers.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('channel_accounts', sa.Column('weight', sa.Integer(), nullable=False, server_default='1'))
    op.add_column('channel_accounts', sa.Column('previous_credentials', sa.JSON(), nullable=True))
    op.add_column('channel_accounts', sa.Column('previous_credentials_until',
                                                indiepay.db.base.UTCDateTime(timezone=True), nullable=True))
    op.create_index('ix_payments_account_created', 'payments', ['channel_account_id', 'created_at'])
    op.create_table(
        'risk_rulesets',
        sa.Column('version', sa.String(length=32), nullable=False),
        sa.Column('sequence', sa.Integer(), nullable=False),
        sa.Column('rules', sa.JSON(), nullable=False),
        sa.Column('created_by', sa.String(length=64), nullable=False),
        sa.Column('note', sa.Text(), nullable=False, server_default=''),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('version'),
        sa.UniqueConstraint('sequence'),
    )


def downgrade() -> None:
    op.drop_table('risk_rulesets')
    op.drop_index('ix_payments_account_created', table_name='payments')
    op.drop_column('channel_accounts', 'previous_credentials_until')
    op.drop_column('channel_accounts', 'previous_credentials')
    op.drop_column('channel_accounts', 'weight')
