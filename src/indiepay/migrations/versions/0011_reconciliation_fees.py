"""reconciliation fees: the fee write-back moves out of the run into a job

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-26 07:30:00

``reconciliation_fees`` holds, per run, the channel fees the run found for its matched payments (one
Parquet file a row) and the fee job's progress through them (``applied_through``, the last payment id
written, committed with each batch). Only a new table: no existing table is altered, so the retention
triggers of 0005 stay in place on SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'reconciliation_fees',
        sa.Column('run_id', sa.String(length=40), nullable=False),
        sa.Column('generation', sa.Integer(), nullable=False),
        sa.Column('fee_count', sa.Integer(), nullable=False),
        sa.Column('applied_count', sa.Integer(), nullable=False),
        sa.Column('applied_through', sa.String(length=40), nullable=True),
        sa.Column('corrections', sa.Integer(), nullable=False),
        sa.Column('batches', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=True),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('updated_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('applied_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['reconciliation_runs.id']),
        sa.PrimaryKeyConstraint('run_id'),
    )


def downgrade() -> None:
    op.drop_table('reconciliation_fees')
