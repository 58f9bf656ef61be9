"""risk: each finished business day's volume per merchant and mode, rolled up once for the history rules

Revision ID: 0018
Revises: 0017
Create Date: 2026-11-26 12:10:00

``risk_day_volumes`` (merchant, mode, day → volume, count) and ``risk_day_volume_runs`` (the days rolled
up), written by the daily ``risk.day_volumes`` job. A merchant's first payment of the day used to read
its whole trailing month of payments inside the payment's transaction; it now sums at most thirty rows,
and reads payments only for days not rolled up yet (``indiepay.risk.history``). New tables only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'risk_day_volumes',
        sa.Column('merchant_id', sa.String(length=40), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('business_date', sa.String(length=10), nullable=False),
        sa.Column('volume', sa.BigInteger(), nullable=False),
        sa.Column('count', sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint('merchant_id', 'livemode', 'business_date'),
    )
    op.create_table(
        'risk_day_volume_runs',
        sa.Column('business_date', sa.String(length=10), nullable=False),
        sa.Column('merchants', sa.Integer(), nullable=False),
        sa.Column('computed_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('business_date'),
    )


def downgrade() -> None:
    op.drop_table('risk_day_volume_runs')
    op.drop_table('risk_day_volumes')
