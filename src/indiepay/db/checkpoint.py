"""SQLite WAL checkpoints off the request path.

By default SQLite checkpoints inside the commit that takes the write-ahead log past 1,000 pages: that one
commit copies the log into the database file and syncs it, some 10–30 ms on this kind of machine, so
every few dozen payments one request pays for everyone's writes — it is what the p99 of a payment is made
of. A :class:`WalCheckpointer` turns automatic checkpoints off on the process's connections (see
:mod:`indiepay.db.engine`) and runs a ``PASSIVE`` checkpoint from a thread of its own every
``interval`` seconds instead. A passive checkpoint takes no writer lock: writers and readers go on while
it copies, so no request waits for it. The log stays small (a fraction of a second of writes).

Each process that opens the database runs its own; they do not conflict (SQLite serialises checkpoints).
Stopping runs a last checkpoint, so a closed database leaves little in its log.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

DEFAULT_INTERVAL_S = 0.5


class WalCheckpointer:
    """A daemon thread checkpointing one SQLite database file every ``interval`` seconds."""

    def __init__(self, path: str, interval: float = DEFAULT_INTERVAL_S) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._lock = threading.Lock()  # the thread and stop() never checkpoint at once on one connection
        self._connection: sqlite3.Connection | None = None
        self._thread = threading.Thread(target=self._run, name=f"wal-checkpoint:{path}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; True once it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def stop(self) -> None:
        """Stop the thread and checkpoint once more; safe to call twice."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self.checkpoint()
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def checkpoint(self) -> tuple[int, int, int] | None:
        """One passive checkpoint: ``(busy, log pages, checkpointed pages)``, or None if it failed (logged;
        the next one tries again — a missed checkpoint only lets the log grow a little longer)."""
        with self._lock:
            if self._connection is None:
                try:  # mode=rw: a database file that is gone is never created again by us
                    self._connection = sqlite3.connect(f"file:{self.path}?mode=rw", uri=True, timeout=30,
                                                       check_same_thread=False, isolation_level=None)
                except sqlite3.Error:
                    self._stop.set()  # the database is gone: nothing left to checkpoint
                    return None
            try:
                row = self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            except sqlite3.Error:
                log.exception("WAL checkpoint of %s failed", self.path)
                return None
        return (int(row[0]), int(row[1]), int(row[2])) if row else None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.checkpoint()
