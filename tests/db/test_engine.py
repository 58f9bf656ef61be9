"""Database.transaction: callbacks that may only learn what was committed."""

from __future__ import annotations

from pathlib import Path

from indiepay.db.engine import Database, after_commit
from indiepay.db.migrate import upgrade


def test_after_commit_callbacks_run_only_once_the_transaction_committed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'callbacks.db'}"
    upgrade(url)
    db = Database(url)
    try:
        ran: list[str] = []
        try:
            with db.transaction() as session:
                after_commit(session, lambda: ran.append("rolled back"))
                raise RuntimeError("the write failed")
        except RuntimeError:
            pass
        with db.transaction() as session:
            after_commit(session, lambda: ran.append("seen inside?"))
            assert ran == []  # nothing runs before the commit
            after_commit(session, lambda: 1 / 0)  # a failing callback does not undo nor hide the commit
            after_commit(session, lambda: ran.append("committed"))
        assert ran == ["seen inside?", "committed"]
    finally:
        db.dispose()


def test_sqlite_commits_are_flushed_to_disk_before_they_return(tmp_path: Path) -> None:
    """``synchronous=FULL``: under WAL with NORMAL a commit could be lost to a power cut after the caller was
    told it happened (a callback answered SUCCESS, a refund number persisted before its channel call)."""
    url = f"sqlite:///{tmp_path / 'durable.db'}"
    upgrade(url)
    database = Database(url)
    try:
        with database.transaction() as session:
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        with database.read() as session:
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 2
    finally:
        database.dispose()


def test_an_operator_may_choose_normal_for_a_disk_that_cannot_lose_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'normal.db'}"
    upgrade(url)
    database = Database(url, sqlite_synchronous="normal")
    try:
        with database.transaction() as session:
            assert session.connection().exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    finally:
        database.dispose()
