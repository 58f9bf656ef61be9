"""retention: financial records are never deleted, ledger rows never change

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 09:00:00

The database itself refuses what the code already never does, so that neither a bug, a hand-written
``DELETE`` in a console nor a careless script can remove a financial record or edit the ledger:

* ``ledger_entries`` and ``ledger_postings`` are append-only: UPDATE and DELETE are refused
  (corrections are reversing entries). ``ledger_chain_head`` is *not* guarded: every append moves it.
* ``payments``, ``refunds``, ``settlements``, ``payouts``, ``statements``, ``collection_mode_changes``,
  ``channel_calls`` and ``received_notifications`` refuse DELETE; their UPDATEs are ordinary state changes.
* On PostgreSQL, TRUNCATE (which skips row triggers) is refused on all of them as well.

Someone who owns the tables can still drop these triggers; that is what the ledger's hash chain and
``indiepay ledger verify`` are for. The triggers stop accidents, the chain exposes tampering.

The lists are written out here rather than imported so that this revision never changes meaning. On
SQLite a later migration that *recreates* one of these tables (``batch_alter_table`` with a copy) drops
its triggers silently; ``tests/retention/test_guards.py`` checks that every trigger exists at head.
"""

from __future__ import annotations

from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

APPEND_ONLY = ("ledger_entries", "ledger_postings")
NEVER_DELETED = ("payments", "refunds", "settlements", "payouts", "statements", "collection_mode_changes",
                 "channel_calls", "received_notifications")
PG_FUNCTION = "indiepay_refuse_change"


def _guards() -> list[tuple[str, str, str]]:
    """``(table, operation, message)`` for every row trigger; messages hold no quotes (they become SQL literals)."""
    guards: list[tuple[str, str, str]] = []
    for table in APPEND_ONLY:
        guards.append((table, "UPDATE", f"{table} is append-only: UPDATE refused; "
                                        "corrections are reversing entries"))
        guards.append((table, "DELETE", f"{table} is append-only: DELETE refused; "
                                        "financial records are never deleted"))
    for table in NEVER_DELETED:
        guards.append((table, "DELETE", f"{table} holds financial records: DELETE refused; "
                                        "financial records are never deleted"))
    return guards


def _name(table: str, operation: str) -> str:
    return f"{table}_refuse_{operation.lower()}"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        for table, operation, message in _guards():
            op.execute(f"CREATE TRIGGER {_name(table, operation)} BEFORE {operation} ON {table} "
                       f"BEGIN SELECT RAISE(ABORT, '{message}'); END")


def _upgrade_postgresql() -> None:
    # one function for every trigger: the message comes in as the trigger's argument; SQLSTATE 23001
    # (restrict_violation) makes drivers report an integrity error, as SQLite's RAISE(ABORT) does
    op.execute(f"""
        CREATE OR REPLACE FUNCTION {PG_FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '%', TG_ARGV[0]
                USING ERRCODE = 'restrict_violation', HINT = 'see Retention in docs/OPERATIONS.md';
        END
        $$""")
    for table, operation, message in _guards():
        op.execute(f"CREATE TRIGGER {_name(table, operation)} BEFORE {operation} ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {PG_FUNCTION}('{message}')")
    for table in (*APPEND_ONLY, *NEVER_DELETED):
        message = f"{table} holds financial records: TRUNCATE refused; financial records are never deleted"
        op.execute(f"CREATE TRIGGER {_name(table, 'TRUNCATE')} BEFORE TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION {PG_FUNCTION}('{message}')")


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, operation, _ in _guards():
        op.execute(f"DROP TRIGGER IF EXISTS {_name(table, operation)}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        for table in (*APPEND_ONLY, *NEVER_DELETED):
            op.execute(f"DROP TRIGGER IF EXISTS {_name(table, 'TRUNCATE')} ON {table}")
        op.execute(f"DROP FUNCTION IF EXISTS {PG_FUNCTION}()")
