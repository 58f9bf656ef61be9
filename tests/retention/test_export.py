"""``export_archive``: what lands in which month file, the manifest, streaming, determinism, tiling of
consecutive archives and the refusals — on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from indiepay.core.clock import FixedClock
from indiepay.core.errors import Conflict, InvalidRequest
from indiepay.db.engine import Database
from indiepay.ledger.chain import GENESIS_HASH
from indiepay.ledger.models import LedgerEntry
from indiepay.payments.models import Payment
from indiepay.retention import repository
from indiepay.retention.export import ExportResult, export_archive
from indiepay.retention.jsonl import read_rows
from indiepay.retention.manifest import read_manifest
from indiepay.retention.policy import Month
from indiepay.retention.verify import anchor, verify_archive
from tests.retention.conftest import Books, beijing

NOW = FixedClock(datetime(2026, 11, 15, 4, 0, tzinfo=UTC))


def export(db: Database, directory: Path, before: str, since: str | None = None,
           clock: FixedClock = NOW) -> ExportResult:
    with db.read() as session:
        return export_archive(session, clock, before=Month.parse(before),
                              since=Month.parse(since) if since else None, directory=directory)


def fill(books: Books) -> dict[str, str]:
    """September, October (up to the last second in Beijing) and November records, in time order."""
    books.mode_change(beijing(2026, 9, 5))
    p1 = books.payment(beijing(2026, 9, 10), amount=12_345)
    books.refund(p1, beijing(2026, 9, 11))
    books.sharing(p1, beijing(2026, 9, 11, 13))
    books.transfer_line(p1, beijing(2026, 9, 11, 14))
    books.settlement(beijing(2026, 9, 12, 2))
    books.statement("2026-09", beijing(2026, 10, 2))  # issued in October, *of* September
    p2 = books.payment(beijing(2026, 10, 31, 23, 59))
    books.settlement(beijing(2026, 11, 1, 2), day="2026-10-31")  # settles an October day, in November
    p3 = books.payment(beijing(2026, 11, 1, 0, 0))
    return {"p1": p1, "p2": p2, "p3": p3}


def test_an_archive_holds_the_closed_months_and_the_database_keeps_everything(
        db: Database, books: Books, tmp_path: Path) -> None:
    ids = fill(books)
    result = export(db, tmp_path / "a", "2026-11")
    manifest = read_manifest(result.directory)
    assert manifest == result.manifest and manifest.before == "2026-11" and manifest.since is None
    assert manifest.timezone == "Asia/Shanghai" and manifest.retention_years == 5
    assert {k: v for k, v in manifest.tables.items() if k != "ledger_accounts"} == {
        "payments": 2, "refunds": 1, "channel_calls": 2, "received_notifications": 2, "settlements": 2,
        "payouts": 1, "statements": 1, "collection_mode_changes": 1, "ledger_entries": 3, "ledger_postings": 12,
        "sharing_receivers": 1, "sharing_orders": 1, "sharing_lines": 1, "sharing_returns": 1,
        "bank_statement_lines": 1}
    paths = {record.path for record in manifest.files}
    assert {"payments/2026-09.jsonl.gz", "payments/2026-10.jsonl.gz", "settlements/2026-10.jsonl.gz",
            "statements/2026-09.jsonl.gz", "ledger_entries/2026-09.jsonl.gz",
            "ledger_postings/2026-10.jsonl.gz"} <= paths
    assert not any("2026-11" in path for path in paths)
    october = list(read_rows(result.directory / "payments/2026-10.jsonl.gz"))
    assert [row["id"] for row in october] == [ids["p2"]]
    september = next(read_rows(result.directory / "payments/2026-09.jsonl.gz"))
    assert september["amount"] == 12_345 and september["description"] == "红茶 tea"
    assert september["payer"] == {"openid": "o_1"}
    assert september["created_at"] == "2026-09-10T04:00:00+00:00"
    segment = manifest.ledger
    assert (segment.first_sequence, segment.last_sequence, segment.prev_hash) == (1, 3, GENESIS_HASH)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Payment)) == 3  # nothing left the database
        assert segment.last_hash == repository.entry_hash(session, 3)
        assert anchor(session, manifest) is None
    check = verify_archive(result.directory)
    assert check.ok and check.entries_checked == 3 and check.files_checked == len(manifest.files), check


def test_the_same_rows_give_byte_identical_files(db: Database, books: Books, tmp_path: Path) -> None:
    fill(books)
    first, second = export(db, tmp_path / "one", "2026-11"), export(db, tmp_path / "two", "2026-11")
    assert first.manifest == second.manifest and first.manifest_sha256 == second.manifest_sha256
    assert (first.directory / "manifest.json").read_bytes() == (second.directory / "manifest.json").read_bytes()


def test_consecutive_archives_tile_the_chain(db: Database, books: Books, tmp_path: Path) -> None:
    fill(books)
    september = export(db, tmp_path / "sep", "2026-10")
    october = export(db, tmp_path / "oct", "2026-11", since="2026-10")
    assert september.manifest.tables["payments"] == 1 and october.manifest.tables["payments"] == 1
    assert october.manifest.tables["statements"] == 0  # September's statement belongs to September
    a, b = september.manifest.ledger, october.manifest.ledger
    assert (a.first_sequence, a.last_sequence, b.first_sequence, b.last_sequence) == (1, 2, 3, 3)
    assert b.prev_hash == a.last_hash
    assert verify_archive(september.directory).ok and verify_archive(october.directory).ok
    with db.read() as session:
        assert anchor(session, october.manifest) is None


def test_an_entry_recorded_with_a_clock_behind_stays_in_chain_order(db: Database, books: Books,
                                                                      tmp_path: Path) -> None:
    books.payment(beijing(2026, 10, 10))
    books.payment(beijing(2026, 9, 30))  # a second server whose clock lags: sequence 2 dated before 1
    books.payment(beijing(2026, 10, 30))
    books.payment(beijing(2026, 11, 2))
    books.payment(beijing(2026, 10, 31))  # lagging again, after the cut: waits for the next archive
    result = export(db, tmp_path / "a", "2026-11")
    entry_files = [r for r in result.manifest.files if r.table == "ledger_entries"]
    assert [(r.month, r.first_sequence, r.last_sequence) for r in entry_files] == [("2026-10", 1, 3)]
    assert result.manifest.tables["payments"] == 4  # payments are dated by their own time
    assert verify_archive(result.directory).ok
    later = export(db, tmp_path / "b", "2026-12", since="2026-11",
                   clock=FixedClock(datetime(2026, 12, 5, tzinfo=UTC)))
    assert (later.manifest.ledger.first_sequence, later.manifest.ledger.last_sequence) == (4, 5)
    assert verify_archive(later.directory).ok


def test_rows_are_streamed_in_small_batches(db: Database, books: Books, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for day in range(1, 8):
        books.payment(beijing(2026, 10, day))
    monkeypatch.setattr(repository, "YIELD_PER", 2)
    result = export(db, tmp_path / "a", "2026-11")
    rows = list(read_rows(result.directory / "payments/2026-10.jsonl.gz"))
    assert len(rows) == 7 and [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert verify_archive(result.directory).ok and result.manifest.ledger.entries == 7


def test_an_empty_database_gives_an_empty_but_valid_archive(db: Database, tmp_path: Path) -> None:
    result = export(db, tmp_path / "a", "2026-11")
    assert result.manifest.files == [] and set(result.manifest.tables.values()) == {0}
    assert result.manifest.ledger.first_sequence is None
    check = verify_archive(result.directory)
    assert check.ok and check.rows_checked == 0


def test_refusals(db: Database, books: Books, tmp_path: Path) -> None:
    books.payment(beijing(2026, 10, 1))
    with pytest.raises(InvalidRequest) as open_month:
        export(db, tmp_path / "a", "2026-12")  # November is still running
    assert open_month.value.code == "month_not_closed"
    with pytest.raises(InvalidRequest) as backwards:
        export(db, tmp_path / "b", "2026-10", since="2026-10")
    assert backwards.value.code == "invalid_month_range"
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "notes.txt").write_text("keep me")
    with pytest.raises(Conflict) as exists:
        export(db, tmp_path / "c", "2026-11")
    assert exists.value.code == "archive_exists"
    assert (tmp_path / "c" / "notes.txt").read_text() == "keep me"
    done = export(db, tmp_path / "d", "2026-11")
    with pytest.raises(Conflict):
        export(db, done.directory, "2026-11")  # an archive is written once
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
