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

from indiepay.db.prepared import Prepared


def insert_once(session: Session, table: Table, row: dict[str, Any], conflict_columns: Sequence[str]) -> bool:
    """Insert ``row`` unless a row with the same ``conflict_columns`` exists; True when it was inserted.

    ``row`` gives every column that has a Python-side default (see :class:`~indiepay.db.prepared.Prepared`).
    """
    statement = _statement(session.get_bind().dialect.name, table, tuple(conflict_columns), tuple(row))
    return bool(statement.rows(session, row))


_STATEMENTS: dict[tuple[str, str, tuple[str, ...], tuple[str, ...]], Prepared] = {}


def _statement(dialect: str, table: Table, conflict: tuple[str, ...], columns: tuple[str, ...]) -> Prepared:
    """The statement for one dialect, table, conflict key and set of columns, compiled once and run with each
    row's values (building it per row costs more than running it, and these run on every callback and
    event)."""
    key = (dialect, table.name, conflict, columns)
    statement = _STATEMENTS.get(key)
    if statement is None:
        if dialect == "postgresql":
            built: Any = postgresql.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        elif dialect == "sqlite":
            built = sqlite.insert(table).on_conflict_do_nothing(index_elements=list(conflict))
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            raise RuntimeError(f"unsupported database {dialect}")
        # RETURNING, not rowcount: psycopg reports -1 for ON CONFLICT inserts through SQLAlchemy
        statement = _STATEMENTS.setdefault(key, Prepared(built.returning(table.c[conflict[0]]), columns))
    return statement
