"""alert delivery: channels, deliveries, rate windows, sandbox SMS outbox

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 09:00:00

``alert_channels`` is where a merchant wants its alerts (webhook URL with a sealed signing secret, e-mail
addresses, phone numbers). ``alert_deliveries`` is one row per alert and target, the unit that is sent
at most once. ``alert_rate_windows`` holds the per (merchant, kind) rate-limit counters in the database
so every process shares them. ``sandbox_sms_messages`` is what the sandbox SMS provider "sent".
``alerts`` gains ``delivery_state`` and the acknowledgement columns, added with plain
``ALTER TABLE … ADD COLUMN`` (never a batch copy, which would drop SQLite triggers).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('alerts', sa.Column('delivery_state', sa.String(length=16), nullable=True))
    op.add_column('alerts', sa.Column('acknowledged_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column('alerts', sa.Column('acknowledged_by', sa.String(length=64), nullable=True))
    op.create_index('ix_alerts_created_at', 'alerts', ['created_at'], unique=False)
    op.create_table(
        'alert_channels',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), nullable=False),
        sa.Column('webhook_url', sa.String(length=500), nullable=True),
        sa.Column('webhook_enabled', sa.Boolean(), nullable=False),
        sa.Column('webhook_secret', sa.JSON(), nullable=False),
        sa.Column('emails', sa.JSON(), nullable=False),
        sa.Column('email_enabled', sa.Boolean(), nullable=False),
        sa.Column('phones', sa.JSON(), nullable=False),
        sa.Column('sms_enabled', sa.Boolean(), nullable=False),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['merchant_id'], ['merchants.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('merchant_id'),
    )
    op.create_table(
        'alert_deliveries',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('alert_id', sa.String(length=40), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('target', sa.String(length=500), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('claimed_until', indiepay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['alert_id'], ['alerts.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('alert_id', 'channel', 'target', name='uq_alert_delivery_target'),
    )
    op.create_index('ix_alert_deliveries_alert_id', 'alert_deliveries', ['alert_id'], unique=False)
    op.create_table(
        'alert_rate_windows',
        sa.Column('key', sa.String(length=200), nullable=False),
        sa.Column('window_start', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('count', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('key'),
    )
    op.create_table(
        'sandbox_sms_messages',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('to', sa.String(length=32), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('reference', sa.String(length=40), nullable=False),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('reference'),
    )
    op.create_index('ix_sandbox_sms_messages_to', 'sandbox_sms_messages', ['to'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_sandbox_sms_messages_to', table_name='sandbox_sms_messages')
    op.drop_table('sandbox_sms_messages')
    op.drop_table('alert_rate_windows')
    op.drop_index('ix_alert_deliveries_alert_id', table_name='alert_deliveries')
    op.drop_table('alert_deliveries')
    op.drop_table('alert_channels')
    op.drop_index('ix_alerts_created_at', table_name='alerts')
    op.drop_column('alerts', 'acknowledged_by')
    op.drop_column('alerts', 'acknowledged_at')
    op.drop_column('alerts', 'delivery_state')
