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
    statement = _statement(session.get_bind().dialect.name, table, tuple(conflict_columns))
    return session.execute(statement, row).first() is not None


_STATEMENTS: dict[tuple[str, str, tuple[str, ...]], Any] = {}


def _statement(dialect: str, table: Table, columns: tuple[str, ...]) -> Any:
    """The statement for one dialect, table and conflict key, built once and run with each row's values
    (building it per row costs more than running it, and these run on every callback and event)."""
    key = (dialect, table.name, columns)
    statement = _STATEMENTS.get(key)
    if statement is None:
        if dialect == "postgresql":
            built: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(columns))
        elif dialect == "sqlite":
            built = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(columns))
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"unsupported database {dialect}")
        # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT inserts through SQLAlchemy
        statement = _STATEMENTS.setdefault(key, built.returning(table.c[columns[0]]))
    return statement
