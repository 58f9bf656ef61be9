"""``indiepay backup``: one consistent snapshot while payments are written, checked before it is kept; a
broken copy, or a broken source, keeps nothing; a backup is never overwritten."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from indiepay.audit.service import record
from indiepay.cli.main import app
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.retention.backup import PARTIAL_SUFFIX, check_backup, create_backup
from tests.retention.conftest import Books, beijing


@pytest.fixture
def books(sqlite_url: str) -> Iterator[Books]:
    upgrade(sqlite_url)
    database = Database(sqlite_url)
    books = Books(database)
    for day in range(1, 6):
        books.payment(beijing(2026, 11, day))
    with database.transaction() as session:
        record(session, SystemClock(), actor="admin", action="merchant.suspended", target_type="merchant",
               target_id=books.merchant_id, merchant_id=books.merchant_id)
    yield books
    database.dispose()


def refused(call: object, code: str) -> IndiePayError:
    assert callable(call)
    with pytest.raises(IndiePayError) as caught:
        call()
    assert caught.value.code == code, caught.value
    return caught.value


def tamper(path: Path, statement: str) -> None:
    """Change a record the way only someone at the file could: the guarding triggers dropped first."""
    connection = sqlite3.connect(path)
    for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        connection.execute(f'DROP TRIGGER "{name}"')
    connection.execute(statement)
    connection.commit()
    connection.close()


def test_a_backup_taken_while_payments_are_written_is_one_consistent_snapshot(books: Books,
                                                                               tmp_path: Path) -> None:
    stop = threading.Event()

    def shop() -> None:  # each payment and its ledger entry commit together: a snapshot holds both or neither
        minute = 0
        while not stop.is_set():
            books.payment(beijing(2026, 11, 6, 9, minute % 60))
            minute += 1

    writer = threading.Thread(target=shop)
    writer.start()
    try:
        backups = [create_backup(str(books.db.url), tmp_path / f"b{i}.db") for i in range(3)]
    finally:
        stop.set()
        writer.join()
    for report in backups:
        assert report.rows["payments"] == report.rows["ledger_entries"] == report.ledger_entries_verified
        assert report.rows["audit_events"] == report.audit_events_verified == 1
        assert report.schema_revision is not None and len(report.sha256) == 64
        assert sorted(p.name for p in tmp_path.glob(report.path.name + "*")) == [report.path.name]  # no -wal
        assert replace(check_backup(report.path), seconds=report.seconds) == report
    assert backups[-1].rows["payments"] > 5  # the shop kept selling while the copies were taken
    with sqlite3.connect(backups[-1].path) as copy:
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_refusals_keep_everything_as_it_was(books: Books, tmp_path: Path) -> None:
    url = str(books.db.url)
    existing = tmp_path / "kept.db"
    existing.write_bytes(b"an earlier backup")
    refused(lambda: create_backup(url, existing), "backup_exists")
    assert existing.read_bytes() == b"an earlier backup"
    refused(lambda: create_backup(url, tmp_path / "no" / "such" / "dir.db"), "backup_directory_missing")
    refused(lambda: create_backup("postgresql://u@h/db", tmp_path / "pg.db"), "backup_not_sqlite")
    refused(lambda: create_backup(f"sqlite:///{tmp_path / 'absent.db'}", tmp_path / "x.db"), "backup_source_missing")
    assert not (tmp_path / "absent.db").exists()  # looking for it did not create it
    refused(lambda: check_backup(tmp_path / "absent.db"), "backup_missing")


@pytest.mark.parametrize(("statement", "problem"), [
    ("UPDATE ledger_postings SET amount = amount + 1 WHERE rowid = (SELECT min(rowid) FROM ledger_postings)",
     "ledger_chain"),
    ("UPDATE audit_events SET actor = 'someone else'", "audit_chain"),
])
def test_a_copy_whose_chains_do_not_verify_is_broken(books: Books, tmp_path: Path, statement: str,
                                                     problem: str) -> None:
    sound = create_backup(str(books.db.url), tmp_path / "sound.db").path
    tamper(sound, statement)
    error = refused(lambda: check_backup(sound), "backup_broken")
    assert error.details["problem"] == problem


def test_a_damaged_file_is_broken(books: Books, tmp_path: Path) -> None:
    copy = create_backup(str(books.db.url), tmp_path / "copy.db").path
    data = bytearray(copy.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data), page):  # every page after the first two: garbage
        data[offset:offset + 64] = b"\xff" * 64
    copy.write_bytes(bytes(data))
    assert refused(lambda: check_backup(copy), "backup_broken").details["problem"] in {"integrity_check",
                                                                                        "unreadable"}
    not_a_database = tmp_path / "notes.db"
    not_a_database.write_text("not sqlite at all " * 100)
    assert refused(lambda: check_backup(not_a_database), "backup_broken").details["problem"] == "unreadable"


def test_a_source_that_fails_the_check_leaves_no_backup(books: Books, tmp_path: Path) -> None:
    tamper(Path(str(books.db.url).removeprefix("sqlite:///")), "UPDATE audit_events SET actor = 'x'")
    destination = tmp_path / "never.db"
    assert refused(lambda: create_backup(str(books.db.url), destination),
                   "backup_broken").details["problem"] == "audit_chain"
    assert not destination.exists()
    assert not destination.with_name(destination.name + PARTIAL_SUFFIX).exists()


def test_the_commands(books: Books, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", str(books.db.url))
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("INDIEPAY_MASTER_KEY", raising=False)
    runner = CliRunner()
    made = runner.invoke(app, ["backup", "create"])
    assert made.exit_code == 0, made.output
    [backup] = (tmp_path / "var" / "backups").glob("indiepay-*.db")
    assert "ledger chain ok (5 entries)" in made.output and "master key" in made.output
    checked = runner.invoke(app, ["backup", "check", str(backup)])
    assert checked.exit_code == 0 and "audit chain ok (1 events)" in checked.output
    again = runner.invoke(app, ["backup", "create", str(backup)])
    assert again.exit_code == 1 and "error (backup_exists)" in again.output
    garbage = tmp_path / "garbage.db"
    garbage.write_text("x" * 5000)
    broken = runner.invoke(app, ["backup", "check", str(garbage)])
    assert broken.exit_code == 1 and "error (backup_broken)" in broken.output
