"""WAL checkpoints run from the database's own thread, never inside a request's commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from indiepay.db.checkpoint import WalCheckpointer
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade


def _wal_pages(path: Path) -> int:
    wal = Path(f"{path}-wal")
    return wal.stat().st_size // 4096 if wal.exists() else 0


def test_commits_leave_checkpoints_to_the_thread_which_keeps_the_log_short(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    upgrade(f"sqlite:///{path}")
    database = Database(f"sqlite:///{path}")
    assert database.checkpointer is not None
    database.checkpointer.stop()  # take the thread out, to watch the commits alone
    try:
        with database.transaction() as session:  # no commit checkpoints: the threshold is off
            assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        with database.read() as session:
            assert session.execute(text("PRAGMA wal_autocheckpoint")).scalar() == 0
        with database.transaction() as session:
            session.execute(text("CREATE TABLE filler (n INTEGER, pad TEXT)"))
        for batch in range(40):  # ~1,500 pages: past SQLite's own threshold of 1,000
            with database.transaction() as session:
                session.execute(text("INSERT INTO filler VALUES (:n, :pad)"),
                                [{"n": batch * 100 + n, "pad": "x" * 1500} for n in range(100)])
        grown = _wal_pages(path)
        assert grown > 1_000  # nobody checkpointed inside a commit
        busy, log_pages, done = WalCheckpointer(str(path)).checkpoint() or (1, 0, 0)
        assert busy == 0 and log_pages == done > 1_000  # one passive checkpoint moved it all
        with database.read() as session:
            assert session.execute(text("SELECT count(*) FROM filler")).scalar() == 4_000
    finally:
        database.dispose()


def test_the_thread_checkpoints_on_its_own(tmp_path: Path) -> None:
    path = tmp_path / "db.sqlite"
    database = Database(f"sqlite:///{path}")
    assert database.checkpointer is not None
    database.checkpointer.interval = 0.05
    try:
        with database.transaction() as session:
            session.execute(text("CREATE TABLE t (n INTEGER)"))
            session.execute(text("INSERT INTO t VALUES (1)"))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # a fresh connection sees the row in the main file once copied
            with sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True) as main_file_only:
                try:
                    if main_file_only.execute("SELECT count(*) FROM t").fetchone() == (1,):
                        break
                except sqlite3.OperationalError:  # the table is not in the main file yet
                    pass
            time.sleep(0.05)
        else:
            raise AssertionError("the checkpointer never copied the log into the database file")
    finally:
        database.dispose()


def test_a_database_file_that_is_gone_stops_the_thread_and_is_not_created_again(tmp_path: Path) -> None:
    path = tmp_path / "gone.sqlite"
    checkpointer = WalCheckpointer(str(path), interval=0.01)
    checkpointer.start()
    assert checkpointer.join(timeout=5)
    assert not path.exists()

