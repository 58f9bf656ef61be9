"""Core statements compiled once and run straight on the driver's cursor, for the few statements on every
payment's path.

A prebuilt Core statement still costs SQLAlchemy ~0.15–0.25 ms per execution on this kind of machine —
cache-key generation, parameter construction, result metadata, row objects — several times what SQLite
spends running it. :class:`Prepared` keeps the statement written in Core (so it is checked against the
models and compiled for each dialect by SQLAlchemy) but does that work once per dialect: the SQL text, the
order of its parameters, the values of its literal parameters and the type processors of every parameter
(a ``UTCDateTime`` becomes the naive UTC value or text the column stores). Each execution then only maps
the caller's values through those processors and runs the text on the session's own connection — the
same transaction and locks as any other statement of the session, after the same autoflush.

Only for statements whose parameters are plain (no expanding ``IN``) and whose result columns need no
type processing (strings, integers, aggregates): rows come back as the driver's tuples.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from sqlalchemy import Dialect, Table, bindparam, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Executable


@dataclass(frozen=True)
class _Compiled:
    sql: str
    positional: bool
    names: tuple[str, ...]  # every parameter, in the order a positional driver wants them
    literals: Mapping[str, Any]  # the statement's own constants, already processed
    processors: Mapping[str, Callable[[Any], Any]]
    arguments: Callable[[Mapping[str, Any]], tuple[Any, ...]]  # positional: the values in the driver's order


class Prepared:
    """One Core statement, compiled once per dialect; :meth:`rows` runs it with the caller's values.

    For an INSERT, ``columns`` names exactly the columns every row gives (compiled as SQLAlchemy would for a
    row with those keys). A column left out must have no Python-side default — it would not be applied
    here — and compiling refuses one that has.
    """

    def __init__(self, statement: Executable, columns: Sequence[str] | None = None) -> None:
        self.statement = statement
        self.columns = tuple(columns) if columns is not None else None
        self._compiled: dict[str, _Compiled] = {}
        self._lock = threading.Lock()

    def rows(self, session: Session, values: Mapping[str, Any]) -> Sequence[tuple[Any, ...]]:
        """Run in the session's transaction and return every row as a plain tuple.

        Raises:
            KeyError: a parameter of the statement that ``values`` does not give.
        """
        cursor = self._run(session, values)
        try:
            return [tuple(row) for row in cursor.fetchall()]
        finally:
            cursor.close()

    def execute(self, session: Session, values: Mapping[str, Any]) -> int:
        """Run a statement that returns no rows (an INSERT, an UPDATE); returns the driver's row count."""
        cursor = self._run(session, values)
        try:
            return int(cursor.rowcount)
        finally:
            cursor.close()

    def _run(self, session: Session, values: Mapping[str, Any]) -> Any:
        if session.autoflush and (session.new or session.dirty or session.deleted):
            session.flush()  # as SQLAlchemy autoflushes before a statement: pending objects are seen, in order
        connection = session.connection()
        compiled = self._for(connection.dialect)
        processors = compiled.processors
        params = {name: processors[name](value) if name in processors else value
                  for name, value in values.items()}
        params.update(compiled.literals)
        cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
        driver_error = connection.dialect.loaded_dbapi.Error
        try:
            if compiled.positional:
                cursor.execute(compiled.sql, compiled.arguments(params))
            else:
                cursor.execute(compiled.sql, params)
        except driver_error as exc:
            cursor.close()
            # as SQLAlchemy raises it (IntegrityError for a duplicate key, ...): callers catch those, not
            # each driver's own classes
            raise DBAPIError.instance(compiled.sql, params, exc, driver_error,
                                      dialect=connection.dialect) from exc
        except BaseException:
            cursor.close()
            raise
        return cursor

    def _for(self, dialect: Dialect) -> _Compiled:
        found = self._compiled.get(dialect.name)
        if found is not None:
            return found
        with self._lock:
            options: dict[str, Any] = {} if self.columns is None else {"column_keys": list(self.columns)}
            compiled = self.statement.compile(dialect=dialect, **options)  # type: ignore[attr-defined]
            if self.columns is not None:
                extra = set(compiled.binds) - set(self.columns) - {
                    name for name, bind in compiled.binds.items() if not bind.required and bind.callable is None
                    and bind.value is not None}
                if extra:
                    raise TypeError(f"columns {sorted(extra)} would take Python-side defaults; give them")
            names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
            processors: dict[str, Callable[[Any], Any]] = {}
            literals: dict[str, Any] = {}
            for name, bind in compiled.binds.items():
                processor = bind.type.dialect_impl(dialect).bind_processor(dialect)
                if processor is not None:
                    processors[name] = processor
                if bind.callable is None and not bind.required:  # a constant written into the statement
                    value = bind.value
                    literals[name] = processors[name](value) if name in processors else value
            found = _Compiled(compiled.string, compiled.positional, names, literals, processors,
                              _getter(names))
            self._compiled[dialect.name] = found
            return found


def _getter(names: tuple[str, ...]) -> Callable[[Mapping[str, Any]], tuple[Any, ...]]:
    """``params -> tuple of params[name] for name in names``, in C (a statement of the measure's size binds
    sixty values on every payment)."""
    if len(names) == 1:
        only = names[0]
        return lambda params: (params[only],)
    if not names:
        return lambda params: ()
    return itemgetter(*names)


_UPDATES: dict[tuple[str, tuple[str, ...], tuple[str, ...]], Prepared] = {}


def update_where(table: Table, match: Sequence[str], columns: Sequence[str]) -> Prepared:
    """``UPDATE table SET <columns> WHERE <match columns> = …`` compiled once per shape and kept.

    Run it with the new values under the column names and the matched values under ``where_<column>``;
    :meth:`Prepared.execute` returns how many rows it changed (a conditional update's "did I win").
    For the row updates on every payment's path (a payment's state after its channel call or callback):
    built per call, such an UPDATE costs SQLAlchemy more than SQLite spends running it.
    """
    key = (table.name, tuple(match), tuple(columns))
    statement = _UPDATES.get(key)
    if statement is None:
        built = (update(table).where(*(table.c[name] == bindparam(f"where_{name}") for name in match))
                 .values({name: bindparam(name, type_=table.c[name].type) for name in columns}))
        statement = _UPDATES.setdefault(key, Prepared(built))
    return statement
