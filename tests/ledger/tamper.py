"""Play an attacker with direct database access, for the tamper-detection tests.

Since migration 0005 the database refuses UPDATE and DELETE on the ledger tables, so a plain edit no
longer gets through. Someone who owns the tables can still drop those triggers first; that is exactly the
case the hash chain exists for, so the tests that prove ``verify`` catches tampering go this way.
"""

from __future__ import annotations

from sqlalchemy import Connection, text

from indiepay.db.engine import Database

LEDGER_TABLES = ("ledger_entries", "ledger_postings")


def drop_ledger_guards(conn: Connection) -> None:
    """Drop the append-only triggers of the ledger tables, as a table owner could."""
    postgresql = conn.dialect.name == "postgresql"
    for table in LEDGER_TABLES:
        for operation in ("update", "delete"):
            name = f"{table}_refuse_{operation}"
            conn.execute(text(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgresql else "")))


def tamper(db: Database, *statements: str) -> None:
    """Drop the ledger's guards, then run ``statements`` in one committed transaction."""
    with db.engine.begin() as conn:
        drop_ledger_guards(conn)
        for sql in statements:
            conn.execute(text(sql))
