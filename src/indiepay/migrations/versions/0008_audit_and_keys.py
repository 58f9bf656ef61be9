"""audit log and API key expiry / read-only keys

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 04:50:00

``audit_events`` is the hash-chained audit log (see ``indiepay.audit``); ``audit_chain_head`` its one-row
head that appenders lock. Triggers refuse UPDATE and DELETE on ``audit_events`` (and TRUNCATE on
PostgreSQL), the same way 0005 guards the ledger; ``indiepay audit verify`` exposes what a table owner who
drops them changes. ``api_keys`` gets ``expires_at`` (a rolled key's end) and ``read_only``, added with plain
``ALTER TABLE … ADD COLUMN`` (no SQLite table copy, so no trigger is lost).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import indiepay.db.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

_REFUSE_UPDATE = "audit_events is append-only: UPDATE refused; the audit log is never changed"
_REFUSE_DELETE = "audit_events is append-only: DELETE refused; the audit log is never deleted"
_REFUSE_TRUNCATE = "audit_events is append-only: TRUNCATE refused; the audit log is never deleted"


def upgrade() -> None:
    head = op.create_table(
        'audit_chain_head',
        sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sequence', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.bulk_insert(head, [{'id': 1, 'sequence': 0, 'hash': '0' * 64}])
    op.create_table(
        'audit_events',
        sa.Column('id', sa.String(length=40), nullable=False),
        sa.Column('sequence', sa.BigInteger(), nullable=False),
        sa.Column('occurred_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('merchant_id', sa.String(length=40), nullable=True),
        sa.Column('action', sa.String(length=64), nullable=False),
        sa.Column('target_type', sa.String(length=32), nullable=True),
        sa.Column('target_id', sa.String(length=64), nullable=True),
        sa.Column('origin', sa.String(length=64), nullable=True),
        sa.Column('result', sa.String(length=16), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('prev_hash', sa.String(length=64), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sequence'),
    )
    op.create_index('ix_audit_events_merchant_id', 'audit_events', ['merchant_id'])
    op.add_column('api_keys', sa.Column('expires_at', indiepay.db.base.UTCDateTime(timezone=True), nullable=True))
    op.add_column('api_keys', sa.Column('read_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE TRIGGER audit_events_refuse_update BEFORE UPDATE ON audit_events "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSE_UPDATE}'); END")
        op.execute("CREATE TRIGGER audit_events_refuse_delete BEFORE DELETE ON audit_events "
                   f"BEGIN SELECT RAISE(ABORT, '{_REFUSE_DELETE}'); END")
    else:
        # indiepay_refuse_change (0005) raises its first argument with SQLSTATE restrict_violation
        for operation, message in (("UPDATE", _REFUSE_UPDATE), ("DELETE", _REFUSE_DELETE)):
            op.execute(f"CREATE TRIGGER audit_events_refuse_{operation.lower()} BEFORE {operation} ON audit_events "
                       f"FOR EACH ROW EXECUTE FUNCTION indiepay_refuse_change('{message}')")
        op.execute("CREATE TRIGGER audit_events_refuse_truncate BEFORE TRUNCATE ON audit_events "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION indiepay_refuse_change('{_REFUSE_TRUNCATE}')")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for operation in ("update", "delete") + (() if sqlite else ("truncate",)):
        op.execute(f"DROP TRIGGER IF EXISTS audit_events_refuse_{operation}" + ("" if sqlite else " ON audit_events"))
    op.drop_column('api_keys', 'read_only')
    op.drop_column('api_keys', 'expires_at')
    op.drop_index('ix_audit_events_merchant_id', table_name='audit_events')
    op.drop_table('audit_events')
    op.drop_table('audit_chain_head')
