"""kill switch, collection limits and risk decisions

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 04:10:00

``suspensions`` keeps every suspension and resumption of a merchant or a channel account with its reason.
Merchants get their own single-payment and daily limits (NULL: their subject type's defaults) and
channel accounts a daily cap. Columns are added with plain ``ALTER TABLE … ADD COLUMN`` (no SQLite table
copy), so no trigger of 0005 is lost. ``risk_decisions`` keeps every evaluation of the risk rules that hit
a rule, with the rule set's version and the hits. Both new tables get the same never-delete guard as the
other financial records.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

_REFUSE = "suspensions holds financial records: DELETE refused; financial records are never deleted"
_REFUSE_DECISION = "risk_decisions holds financial records: DELETE refused; financial records are never deleted"


def upgrade() -> None:
    op.create_table(
        'suspensions',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('target_type', sa.String(length=16), nullable=False),
        sa.Column('target_id', sa.String(length=40), nullable=False),
        sa.Column('action', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_suspensions_target', 'suspensions', ['target_type', 'target_id', 'created_at'])
    op.add_column('merchants', sa.Column('single_limit', sa.BigInteger(), nullable=True))
    op.add_column('merchants', sa.Column('daily_limit', sa.BigInteger(), nullable=True))
    op.add_column('channel_accounts', sa.Column('daily_cap', sa.BigInteger(), nullable=True))
    op.create_table(
        'risk_decisions',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('object_type', sa.String(length=16), nullable=False),
        sa.Column('object_id', sa.String(length=40), nullable=True),
        sa.Column('reference', sa.String(length=64), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), nullable=False),
        sa.Column('livemode', sa.Boolean(), nullable=False),
        sa.Column('amount', sa.BigInteger(), nullable=False),
        sa.Column('payer', sa.JSON(), nullable=False),
        sa.Column('ruleset_version', sa.String(length=32), nullable=False),
        sa.Column('outcome', sa.String(length=16), nullable=False),
        sa.Column('shadow_outcome', sa.String(length=16), nullable=False),
        sa.Column('rule_id', sa.String(length=64), nullable=True),
        sa.Column('rule_version', sa.Integer(), nullable=True),
        sa.Column('hits', sa.JSON(), nullable=False),
        sa.Column('created_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_risk_decisions_merchant', 'risk_decisions', ['merchant_id', 'created_at', 'id'])
    op.create_index('ix_risk_decisions_object', 'risk_decisions', ['object_id'])
    op.create_index('ix_risk_decisions_created', 'risk_decisions', ['created_at', 'id'])
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER suspensions_refuse_delete BEFORE DELETE ON suspensions "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSE}'); END")
        op.execute("CREATE TRIGGER risk_decisions_refuse_delete BEFORE DELETE ON risk_decisions "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSE_DECISION}'); END")
    else:
        op.execute("CREATE OR REPLACE FUNCTION indiepay_refuse_suspension_delete() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSE}' USING ERRCODE = '23001'; END $$")
        op.execute("CREATE TRIGGER suspensions_refuse_delete BEFORE DELETE ON suspensions "
                   "FOR EACH ROW EXECUTE FUNCTION indiepay_refuse_suspension_delete()")
        op.execute("CREATE OR REPLACE FUNCTION indiepay_refuse_risk_decision_delete() RETURNS trigger "
                   f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{_REFUSE_DECISION}' USING ERRCODE = '23001'; "
                   "END $$")
        op.execute("CREATE TRIGGER risk_decisions_refuse_delete BEFORE DELETE ON risk_decisions "
                   "FOR EACH ROW EXECUTE FUNCTION indiepay_refuse_risk_decision_delete()")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.execute("DROP TRIGGER IF EXISTS risk_decisions_refuse_delete" + ("" if sqlite else " ON risk_decisions"))
    op.execute("DROP TRIGGER IF EXISTS suspensions_refuse_delete" + ("" if sqlite else " ON suspensions"))
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS indiepay_refuse_risk_decision_delete()")
        op.execute("DROP FUNCTION IF EXISTS indiepay_refuse_suspension_delete()")
    op.drop_index('ix_risk_decisions_created', table_name='risk_decisions')
    op.drop_index('ix_risk_decisions_object', table_name='risk_decisions')
    op.drop_index('ix_risk_decisions_merchant', table_name='risk_decisions')
    op.drop_table('risk_decisions')
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch table copy would DROP TABLE merchants /
    # channel_accounts, which payments reference, and fail once there is a payment
    op.drop_column('channel_accounts', 'daily_cap')
    op.drop_column('merchants', 'daily_limit')
    op.drop_column('merchants', 'single_limit')
    op.drop_index('ix_suspensions_target', table_name='suspensions')
    op.drop_table('suspensions')
