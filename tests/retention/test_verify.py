"""``verify_archive`` on its own: every kind of damage to an archive is found and named, including an
attacker who rewrites a file *and* fixes its hash in the manifest (the chain still gives it away)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.retention.export import export_archive
from indiepay.retention.jsonl import encode, read_rows, sha256_of
from indiepay.retention.manifest import MANIFEST
from indiepay.retention.policy import Month
from indiepay.retention.verify import anchor, verify_archive
from tests.retention.conftest import Books, beijing

Rows = list[dict[str, Any]]


@pytest.fixture
def archive(tmp_path: Path, sqlite_url: str) -> Path:
    """An October archive of four payments (four ledger entries), from a SQLite database."""
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    books = Books(db)
    for day in (3, 9, 17, 25):
        books.payment(beijing(2026, 10, day), amount=1_000 * day)
    with db.read() as session:
        export_archive(session, FixedClock(datetime(2026, 11, 15, tzinfo=UTC)), before=Month(2026, 11), since=None,
                       directory=tmp_path / "archive")
    db.dispose()
    return tmp_path / "archive"


def manifest_of(directory: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((directory / MANIFEST).read_text())
    return loaded


def rewrite(directory: Path, relative: str, change: Callable[[Rows], Rows], *, fix_manifest: bool = True) -> None:
    """Rewrite one file's rows; with ``fix_manifest`` also put its new hash, size and count in the manifest."""
    path = directory / relative
    rows = change(list(read_rows(path)))
    with gzip.GzipFile(path, "wb", mtime=0) as handle:
        for row in rows:
            handle.write(encode(row))
    if fix_manifest:
        manifest = manifest_of(directory)
        for record in manifest["files"]:
            if record["path"] == relative:
                record.update(sha256=sha256_of(path), bytes=path.stat().st_size, rows=len(rows))
        (directory / MANIFEST).write_text(json.dumps(manifest))


def problem(directory: Path) -> str:
    check = verify_archive(directory)
    assert not check.ok and check.problem is not None
    return check.problem


def test_an_intact_archive_verifies(archive: Path) -> None:
    check = verify_archive(archive)
    assert check.ok and check.entries_checked == 4 and check.problem is None, check


def test_a_flipped_byte_is_found(archive: Path) -> None:
    path = archive / "payments/2026-10.jsonl.gz"
    data = bytearray(path.read_bytes())
    data[-9] ^= 0x01
    path.write_bytes(bytes(data))
    assert "payments/2026-10.jsonl.gz: SHA-256 differs" in problem(archive)


def test_a_changed_amount_is_found_even_with_a_fixed_manifest(archive: Path) -> None:
    def move_one_fen(rows: Rows) -> Rows:  # still balanced, so only the chain can tell
        of_second = [row for row in rows if row["entry_sequence"] == 2]
        of_second[0]["amount"] += 1
        of_second[1]["amount"] -= 1
        return rows

    rewrite(archive, "ledger_postings/2026-10.jsonl.gz", move_one_fen)
    assert problem(archive).startswith("ledger sequence 2: hash mismatch")


def test_an_edited_entry_is_found(archive: Path) -> None:
    def edit(rows: Rows) -> Rows:
        rows[2]["description"] = "nothing to see"
        return rows

    rewrite(archive, "ledger_entries/2026-10.jsonl.gz", edit)
    assert problem(archive).startswith("ledger sequence 3: hash mismatch")


def test_a_removed_entry_is_found(archive: Path) -> None:
    rewrite(archive, "ledger_entries/2026-10.jsonl.gz", lambda rows: [r for r in rows if r["sequence"] != 2])
    assert "ledger_entries: files hold 3 rows, the manifest says 4" in problem(archive)
    manifest = manifest_of(archive)  # a thorough attacker fixes the totals too: the chain still breaks
    manifest["tables"]["ledger_entries"] = manifest["ledger"]["entries"] = 3
    (archive / MANIFEST).write_text(json.dumps(manifest))
    assert problem(archive).startswith("ledger sequence 3: sequence gap, expected 2")


def test_a_payment_removed_from_its_file_is_found_by_the_manifest(archive: Path) -> None:
    rewrite(archive, "payments/2026-10.jsonl.gz", lambda rows: rows[1:])
    assert "payments: files hold 3 rows, the manifest says 4" in problem(archive)


def test_a_row_count_that_disagrees_is_found(archive: Path) -> None:
    manifest = manifest_of(archive)
    manifest["files"][0]["rows"] += 1
    (archive / MANIFEST).write_text(json.dumps(manifest))
    assert "rows, the manifest says" in problem(archive)


def test_a_truncated_chain_end_is_found(archive: Path) -> None:
    manifest = manifest_of(archive)
    manifest["ledger"]["last_hash"] = "f" * 64
    (archive / MANIFEST).write_text(json.dumps(manifest))
    assert "ledger: the chain ends at sequence 4" in problem(archive)


def test_missing_and_unlisted_files_are_found(archive: Path) -> None:
    (archive / "payments/2026-12.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    assert "payments/2026-12.jsonl.gz: file is not listed" in problem(archive)
    (archive / "payments/2026-12.jsonl.gz").unlink()
    (archive / "refunds").mkdir(exist_ok=True)
    (archive / "channel_calls/2026-10.jsonl.gz").unlink()
    assert "channel_calls/2026-10.jsonl.gz: listed in the manifest but missing" in problem(archive)


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda m: m.pop("files"), "not a valid archive manifest: files"),
    (lambda m: m.update(format="something-else/9"), "this version reads"),
    (lambda m: m["files"][0].update(path="../../etc/passwd"), "must stay inside the archive"),
])
def test_a_bad_manifest_is_refused(archive: Path, damage: Callable[[dict[str, Any]], object], expected: str) -> None:
    manifest = manifest_of(archive)
    damage(manifest)
    (archive / MANIFEST).write_text(json.dumps(manifest))
    assert expected in problem(archive)


def test_no_manifest_means_no_archive(tmp_path: Path) -> None:
    assert "cannot read" in problem(tmp_path)


def test_anchor_tells_a_rebuilt_archive_from_the_real_ledger(archive: Path, tmp_path: Path) -> None:
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other_url)
    other = Database(other_url)
    books = Books(other)
    for day in (3, 9, 17, 25, 26):
        books.payment(beijing(2026, 10, day), amount=999)
    check = verify_archive(archive)
    assert check.manifest is not None
    with other.read() as session:
        assert anchor(session, check.manifest) == "the database's entry 4 does not carry the archive's last hash"
    other.dispose()
