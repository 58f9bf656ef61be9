"""The sandbox gateways' own state: dataclass records as JSON documents in stdlib ``sqlite3``.

Each gateway keeps its records apart from the platform's database, in a file (``state_path``) so a
standalone sandbox keeps its merchants and orders across restarts, or in memory for tests. One re-entrant
lock serialises access — the gateways are test tools, their callers async handlers on one event loop plus
the odd thread — and callers hold :attr:`DocumentDb.lock` for a read-modify-write of several rows.
Records load leniently (:func:`load`): rows written by an older or newer sandbox still load.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, fields
from typing import Any, ClassVar, Generic, TypeVar

T = TypeVar("T")
K = TypeVar("K")


def build(cls: type[T], data: dict[str, Any]) -> T:
    """``cls`` from ``data``, fields unknown to it dropped and missing ones left to their defaults."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})


def load(cls: type[T], text: str) -> T:
    return build(cls, json.loads(text))


def dump(obj: Any) -> str:
    """A dataclass record as the JSON text stored for it."""
    return json.dumps(asdict(obj), ensure_ascii=False, sort_keys=True)


class DocumentDb:
    """A SQLite connection with the gateway's schema, and atomic text reads and writes under one lock."""

    def __init__(self, path: str | None, schema: str) -> None:
        self._db = sqlite3.connect(path or ":memory:", check_same_thread=False, isolation_level=None)
        # a simulator's state: WAL without fsync per commit keeps the gateway from stalling its event loop
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._lock = threading.RLock()
        with self._lock:
            self._db.executescript(schema)

    @property
    def lock(self) -> threading.RLock:
        """Held by callers that read-modify-write several rows as one step."""
        return self._lock

    def _one(self, sql: str, args: tuple[Any, ...]) -> str | None:
        """The first column of the first row, as text (None: no row)."""
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return None if row is None else str(row[0])

    def _all(self, sql: str, args: tuple[Any, ...]) -> list[str]:
        """The first column of every row, as text."""
        with self._lock:
            return [str(row[0]) for row in self._db.execute(sql, args).fetchall()]

    def _put(self, sql: str, args: tuple[Any, ...]) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class KnobDocumentDb(DocumentDb, Generic[K]):
    """A gateway's state with per-account fault knobs: one ``faults`` row per account (keyed by the column
    :attr:`FAULTS_KEY`: ``app_id``, ``mer_id``) holding a :attr:`FAULTS` dataclass, whose counting knobs
    (``drop_callbacks``, ``fail_with_500``) are used up one unit at a time, atomically."""

    FAULTS: ClassVar[type[Any]]
    FAULTS_KEY: ClassVar[str]

    def faults(self, owner: str) -> K:
        text = self._one(f"SELECT data FROM faults WHERE {self.FAULTS_KEY} = ?", (owner,))  # noqa: S608 - class constant
        knobs: K = self.FAULTS() if text is None else load(self.FAULTS, text)
        return knobs

    def save_faults(self, owner: str, faults: K) -> None:
        sql = f"INSERT OR REPLACE INTO faults ({self.FAULTS_KEY}, data) VALUES (?, ?)"  # noqa: S608 - class constant
        self._put(sql, (owner, dump(faults)))

    def clear_faults(self, owner: str) -> None:
        self._put(f"DELETE FROM faults WHERE {self.FAULTS_KEY} = ?", (owner,))  # noqa: S608 - class constant

    def take_fault(self, owner: str, knob: str) -> bool:
        """Atomically consume one unit of a counting knob (``drop_callbacks`` / ``fail_with_500``)."""
        with self._lock:
            faults = self.faults(owner)
            left = int(getattr(faults, knob))
            if left <= 0:
                return False
            setattr(faults, knob, left - 1)
            self.save_faults(owner, faults)
            return True
