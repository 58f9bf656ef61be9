"""Engine and transactions.

Commit at the edge: a request or job opens one unit of work with :meth:`Database.transaction` (or
:meth:`Database.read` when it only reads); services only flush.

SQLite allows one writer at a time. Every write transaction starts with ``BEGIN IMMEDIATE`` so two
writers never deadlock on a lock upgrade, and writers of one process queue on a Python lock first, so
they are handed the database in turn instead of polling SQLite's busy handler (which sleeps up to
100 ms between tries); other processes still wait through ``busy_timeout``. Read transactions use a
plain deferred ``BEGIN`` and never wait for writers (WAL). A file database's log is checkpointed by a
thread of the process (:mod:`indiepay.db.checkpoint`), not by whichever commit crosses SQLite's threshold.
On PostgreSQL row locks and conditional updates do the work and reads and writes share one engine.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from indiepay.db.checkpoint import WalCheckpointer

log = logging.getLogger(__name__)
_AFTER_COMMIT = "indiepay.after_commit"


def after_commit(session: Session, callback: Callable[[], None]) -> None:
    """Run ``callback`` once the session's :meth:`Database.transaction` has committed (never on a rollback).

    For caches that may only learn what is committed: a fact learned from a transaction that then rolls
    back would be a lie the next request believes."""
    session.info.setdefault(_AFTER_COMMIT, []).append(callback)


def normalise_url(url: str) -> str:
    """Accept ``postgresql://`` / ``postgres://`` and use the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_file(url: str) -> str | None:
    """The database file of a ``sqlite:///`` URL (None for an in-memory database or another database)."""
    if not url.startswith("sqlite") or "///" not in url:
        return None
    path = url.split("///", 1)[1].split("?", 1)[0]
    return path if path and path != ":memory:" else None


def _sqlite_engine(url: str, begin: str, *, auto_checkpoint: bool = True, synchronous: str = "FULL") -> Engine:
    path = sqlite_file(url)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # LIFO: the connection used last is handed out next. Each SQLite connection has its own page cache, and
    # it survives only while no other connection has written since its last use — a connection straight
    # back from the last transaction usually finds its pages still good, while the FIFO default rotated
    # through every connection a burst had opened, each reading the database from the OS again
    # (bench/payments.py, same hour: 15.7–16.6 ms p50 per payment against 17.2–18.7)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30},
                           pool_size=20, max_overflow=20, pool_use_lifo=True)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL (the default): each commit's WAL frames reach the disk before the commit returns. NORMAL would
        # lose the last commits to a power cut or an OS crash (a process crash loses nothing either way) — a
        # callback already answered SUCCESS, a refund number persisted before its channel call, a payout
        # attempt counted. NORMAL only where the disk cannot lose what it acknowledged (battery-backed cache)
        cursor.execute(f"PRAGMA synchronous={SYNCHRONOUS[synchronous.upper()]}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if not auto_checkpoint:  # a WalCheckpointer does it off the request path
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # straight on the driver: every transaction runs this, and SQLAlchemy's statement path around one
        # constant BEGIN costs several times what SQLite spends on it
        conn.connection.driver_connection.execute(begin)

    return engine


def make_engine(url: str) -> Engine:
    """Build the (write) engine; SQLite gets WAL, a busy timeout, foreign keys and immediate transactions."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        return _sqlite_engine(url, "BEGIN IMMEDIATE")
    return create_engine(url, pool_size=20, max_overflow=20, pool_pre_ping=True)


SYNCHRONOUS = {"FULL": "FULL", "NORMAL": "NORMAL"}
"""SQLite's ``synchronous`` levels a platform may run with (``INDIEPAY_SQLITE_SYNCHRONOUS``)."""


class Database:
    """The engine(s) plus session factories; the only place that commits."""

    def __init__(self, url: str, *, sqlite_synchronous: str = "FULL") -> None:
        self.url = normalise_url(url)
        path = sqlite_file(self.url)
        # a file database checkpoints its log from a thread of its own, never inside a request's commit
        self.checkpointer = WalCheckpointer(path) if path is not None else None
        if self.url.startswith("sqlite"):
            auto = self.checkpointer is None
            self.engine = _sqlite_engine(self.url, "BEGIN IMMEDIATE", auto_checkpoint=auto,
                                         synchronous=sqlite_synchronous)
            self.read_engine = _sqlite_engine(self.url, "BEGIN", auto_checkpoint=auto, synchronous=sqlite_synchronous)
        else:
            self.engine = make_engine(url)
            self.read_engine = self.engine
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = (sessionmaker(self.read_engine, expire_on_commit=False)
                              if self.read_engine is not self.engine else self.sessions)
        self._writer = threading.RLock() if self.is_sqlite else None
        if self.checkpointer is not None:
            self.checkpointer.start()
            weakref.finalize(self, self.checkpointer.stop)  # a Database dropped without dispose()

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit when the block ends normally, roll back on any exception."""
        with self._writer or nullcontext():
            session = self.sessions()
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                session.close()
            for callback in session.info.pop(_AFTER_COMMIT, ()):
                try:
                    callback()
                except Exception:  # what is committed stays committed; a callback only warms a cache
                    log.exception("after-commit callback %r failed", callback)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work (never blocks on, nor blocks, writers). Nothing is committed."""
        session = self.read_sessions()
        try:
            yield session
        finally:
            session.close()  # ends the transaction; loaded objects stay readable (detached, not expired)

    @contextmanager
    def read_connection(self) -> Iterator[Connection]:
        """A bare read-only connection for hot lookups that need no ORM objects (cheaper than a Session)."""
        with self.read_engine.connect() as connection:
            yield connection

    def dispose(self) -> None:
        if self.checkpointer is not None:
            self.checkpointer.stop()
        self.engine.dispose()
        if self.read_engine is not self.engine:
            self.read_engine.dispose()
