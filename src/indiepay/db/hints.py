"""Query-planner hints that SQL cannot spell the same way on SQLite and PostgreSQL.

:func:`not_for_lookup` keeps SQLite from driving a join through an index on a column it compares for
equality. Without statistics (``ANALYZE``) SQLite assumes an equality on an indexed column finds about ten
rows, so "this account's refunds of the week" starts from the account's payments — all of them, since
the account opened — and probes each one's refunds, instead of starting from the week's refunds. SQLite's
documented way to disqualify an index for one term is a unary ``+`` on the column; PostgreSQL plans from
its statistics and gets the column unchanged.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.visitors import InternalTraversal


class _NotForLookup(ColumnElement[Any]):
    inherit_cache = True
    _traverse_internals = [  # noqa: RUF012 - SQLAlchemy's own declaration: the column is in the cache key
        ("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


def not_for_lookup(column: ColumnElement[Any]) -> ColumnElement[Any]:
    """``column`` in a comparison that must not choose the index SQLite would look rows up by."""
    return _NotForLookup(column)


@compiles(_NotForLookup)
def _compile_default(element: _NotForLookup, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.column, **kw)


@compiles(_NotForLookup, "sqlite")
def _compile_sqlite(element: _NotForLookup, compiler: SQLCompiler, **kw: Any) -> str:
    return "+" + compiler.process(element.column, **kw)
