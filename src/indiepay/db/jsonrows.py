"""``json_rows(col, …)``: an aggregate that returns the group's rows as one JSON array of arrays.

Why: a few small reads on every payment's path (today's usage by account, the merchant's accounts) cost
more in statement round trips than in SQL. As scalar subqueries of one statement that already runs, each
comes back as one JSON value and costs one ``json.loads``. Compiled per dialect — SQLite
``json_group_array(json_array(…))``, PostgreSQL ``json_agg(json_build_array(…))`` — and read back with
:func:`rows_of`, which also takes the forms the drivers return (text on SQLite, a parsed list from
psycopg, NULL from PostgreSQL's ``json_agg`` over no row).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import JSON


class json_rows(FunctionElement[Any]):  # lower case: it reads as the SQL function it stands for
    """``json_rows(a, b, …)`` → ``[[a, b, …], …]`` over the aggregated rows (no order promised)."""

    type = JSON()
    inherit_cache = True
    name = "json_rows"

    def __init__(self, *columns: ColumnElement[Any]) -> None:
        super().__init__(*columns)


@compiles(json_rows, "sqlite")
def _sqlite(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "postgresql")
def _postgresql(element: json_rows, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


def rows_of(value: Any) -> list[list[Any]]:
    """The rows of a ``json_rows`` value as the driver returned it."""
    if value is None:
        return []
    if isinstance(value, (str, bytes)):
        found = json.loads(value)
        assert isinstance(found, list)
        return found
    assert isinstance(value, list)
    return value
