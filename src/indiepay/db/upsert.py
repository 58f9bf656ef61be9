"""``INSERT … ON CONFLICT DO NOTHING`` on SQLite and PostgreSQL: record a fact once, in one statement.

Replaces "SELECT whether it exists, then INSERT" on hot paths (callback dedupe, event dedupe): one round
trip instead of two, and no window between the check and the insert. On PostgreSQL a second writer
inserting the same key waits for the first to commit, then does nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session


def insert_once(session: Session, table: Table, row: dict[str, Any], conflict_columns: Sequence[str]) -> bool:
    """Insert ``row`` unless a row with the same ``conflict_columns`` exists; True when it was inserted."""
    dialect = session.get_bind().dialect.name
    columns = list(conflict_columns)
    if dialect == "postgresql":
        statement: Any = postgresql.insert(table).values(row).on_conflict_do_nothing(index_elements=columns)
    elif dialect == "sqlite":
        statement = sqlite.insert(table).values(row).on_conflict_do_nothing(index_elements=columns)
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT inserts through SQLAlchemy
    return session.execute(statement.returning(table.c[columns[0]])).first() is not None
