"""The local side of a day out of a SQLite file as Arrow columns (ADBC), straight into the matcher's DuckDB.

The portable export (:func:`.repository.export_local`) has the database format one CSV line a row and
Python join and write them: on a million orders that is ~2 s of SQLite's ``format()`` plus ~2 s of Python
holding the GIL, on the thread that is meant to overlap DuckDB reading the bill. Here the same two queries
(:func:`.repository.local_queries`, so both paths select the very same rows and values) run through the
ADBC SQLite driver, which fills Arrow columns in C without a Python object a value,
and the matcher's database reads them as they come (:func:`.matcher.load_local_rows`): no file in between.

Both queries run in one read transaction (one snapshot), as the portable export's session does. The
driver infers a column's type from its first rows; a value that does not fit it makes the driver fail, and
any failure here answers ``False`` so that the caller falls back to the portable export (PostgreSQL and
in-memory SQLite always take that path).
"""

# ruff: noqa: S608 -- the DuckDB select list is built from the matcher's column names only; values are bound.

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any
from urllib.parse import quote

import adbc_driver_sqlite.dbapi
import duckdb
from sqlalchemy.dialects import sqlite
from sqlalchemy.sql.elements import BindParameter

from indiepay.db import engine
from indiepay.reconciliation import repository
from indiepay.reconciliation.matcher import LOCAL_COLUMNS, load_local_rows

log = logging.getLogger(__name__)
BATCH_ROWS = "adbc.sqlite.query.batch_rows"
BATCH = 100_000
"""Rows an Arrow batch instead of the driver's 1,024: a thousand hand-overs fewer to DuckDB a million rows
(beside a busy Python thread, on a loaded machine, the load took 9.6 s at 1,024 rows, 6.4 s at 100,000),
and the types are inferred from more rows (the driver infers them from the first batch)."""


def sqlite_file(url: str) -> Path | None:
    """The existing database file of a ``sqlite:///`` URL (None for another database or an in-memory one)."""
    path = engine.sqlite_file(url)
    return Path(path) if path is not None and Path(path).is_file() else None


def _split(query: repository.Rows) -> tuple[str, str, dict[str, Any]]:
    """The SQL that SQLite runs — only the columns it must send: not a constant (``'payment'``, ``''``,
    NULL), not a column a second time (a payment's id is its object id and its payment id) — and the
    DuckDB select list (with its parameters) that rebuilds :data:`LOCAL_COLUMNS` from the stream. Each
    column the driver fills costs ~0.2 s a million rows, on the thread that overlaps reading the bill."""
    sent: list[Any] = []
    rebuilt: list[str] = []
    params: dict[str, Any] = {}
    seen: dict[int, str] = {}
    for column, name in zip(query.selected_columns, LOCAL_COLUMNS, strict=True):
        if isinstance(column, BindParameter):
            params[name] = column.value
            rebuilt.append(f"${name} AS {name}")
        elif id(column) in seen:
            rebuilt.append(f"{seen[id(column)]} AS {name}")
        else:
            seen[id(column)] = name
            sent.append(column.label(name))
            rebuilt.append(name)
    compiled = query.with_only_columns(*sent).compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled), ", ".join(rebuilt), params


def load_local(database: Path, account_id: str, window: repository.Window, into: duckdb.DuckDBPyConnection) -> bool:
    """Load the window's local rows (as :func:`.repository.export_local` selects them) into the matcher's
    ``local_raw`` through ``into`` (:meth:`.matcher.Matcher.cursor`); False when this path could not read
    them (``local_raw`` is then dropped again and the caller exports the portable way)."""
    try:
        with adbc_driver_sqlite.dbapi.connect(f"file:{quote(str(database))}?mode=ro") as source:
            for n, query in enumerate(repository.local_queries(account_id, window)):
                with source.cursor() as cursor:
                    cursor.adbc_statement.set_options(**{BATCH_ROWS: str(BATCH)})
                    sql, rebuilt, params = _split(query)
                    cursor.execute(sql)
                    into.register("local_stream", cursor.fetch_arrow())
                    try:
                        load_local_rows(into, f"(SELECT {rebuilt} FROM local_stream)", params, append=n > 0)
                    finally:
                        into.unregister("local_stream")
            source.rollback()
    except Exception:  # any failure of the driver or of a type: the portable export reads the rows instead
        log.warning("ADBC export of %s failed; exporting the local rows as CSV", account_id, exc_info=True)
        into.execute("DROP TABLE IF EXISTS local_raw")
        return False
    return True
