"""Checking an archive on its own: files, row counts and the ledger chain segment inside it.

``indiepay archive verify`` needs nothing but the directory: it re-hashes every file listed in the
manifest, counts and parses its rows, refuses files the manifest does not list, and re-computes the
ledger's hash chain over the segment with :mod:`indiepay.ledger.chain` — the same function that wrote
it — from the manifest's starting hash to its last hash. Optionally the segment's end points are compared
with the live ledger (:func:`anchor`), which tells a genuine archive from a self-consistent forgery.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from indiepay.ledger import chain
from indiepay.retention import repository
from indiepay.retention.jsonl import read_rows, sha256_of
from indiepay.retention.manifest import MANIFEST, FileRecord, Manifest, ManifestError, read_manifest
from indiepay.retention.tables import LEDGER_ENTRIES, LEDGER_POSTINGS


class ArchiveProblem(Exception):
    """The first thing found wrong with an archive."""


@dataclass(frozen=True)
class ArchiveCheck:
    ok: bool
    problem: str | None
    files_checked: int
    rows_checked: int
    entries_checked: int
    manifest: Manifest | None


def verify_archive(directory: Path) -> ArchiveCheck:
    """Re-check the archive in ``directory``.

    Returns:
        ``ok`` with what was checked, or the first problem found (and what was checked before it).
    """
    progress = {"files": 0, "rows": 0, "entries": 0}
    manifest: Manifest | None = None
    try:
        manifest = read_manifest(directory)
        _check_listing(directory, manifest)
        for record in manifest.files:
            progress["rows"] += _check_file(directory, record)
            progress["files"] += 1
        _check_totals(manifest)
        _check_chain(directory, manifest, progress)
    except (ManifestError, ArchiveProblem) as exc:
        return ArchiveCheck(False, str(exc), progress["files"], progress["rows"], progress["entries"], manifest)
    except (KeyError, TypeError, ValueError, OSError, EOFError) as exc:  # a row without the fields it needs
        problem = f"ledger rows are malformed after {progress['entries']} entries: {exc!r}"
        return ArchiveCheck(False, problem, progress["files"], progress["rows"], progress["entries"], manifest)
    return ArchiveCheck(True, None, progress["files"], progress["rows"], progress["entries"], manifest)


def _check_listing(directory: Path, manifest: Manifest) -> None:
    listed = [record.path for record in manifest.files]
    if len(set(listed)) != len(listed):
        raise ArchiveProblem("the manifest lists a file twice")
    present = {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()}
    unlisted = sorted(present - set(listed) - {MANIFEST})
    if unlisted:
        raise ArchiveProblem(f"{unlisted[0]}: file is not listed in the manifest")


def _check_file(directory: Path, record: FileRecord) -> int:
    path = directory / record.path
    if not path.is_file():
        raise ArchiveProblem(f"{record.path}: listed in the manifest but missing")
    if sha256_of(path) != record.sha256:
        raise ArchiveProblem(f"{record.path}: SHA-256 differs from the manifest (the file was changed)")
    rows = 0
    try:
        for _ in read_rows(path):
            rows += 1
    except (OSError, EOFError, ValueError) as exc:
        raise ArchiveProblem(f"{record.path}: unreadable after {rows} rows: {exc}") from exc
    if rows != record.rows:
        raise ArchiveProblem(f"{record.path}: {rows} rows, the manifest says {record.rows}")
    return rows


def _check_totals(manifest: Manifest) -> None:
    totals: dict[str, int] = {}
    for record in manifest.files:
        totals[record.table] = totals.get(record.table, 0) + record.rows
    for table, rows in manifest.tables.items():
        if totals.get(table, 0) != rows:
            raise ArchiveProblem(f"{table}: files hold {totals.get(table, 0)} rows, the manifest says {rows}")
    if set(totals) - set(manifest.tables):
        raise ArchiveProblem(f"{sorted(set(totals) - set(manifest.tables))[0]}: files of a table the manifest "
                             "does not count")


def _rows(directory: Path, manifest: Manifest, table: str) -> Iterator[dict[str, Any]]:
    records = sorted((r for r in manifest.files if r.table == table), key=lambda r: (r.first_sequence or 0, r.month))
    for record in records:
        yield from read_rows(directory / record.path)


def _check_chain(directory: Path, manifest: Manifest, progress: dict[str, int]) -> None:
    segment = manifest.ledger
    if segment.entries == 0:
        if segment.first_sequence is not None or segment.postings:
            raise ArchiveProblem("ledger: the manifest names a segment but counts no entries")
        return
    expected, prev_hash = segment.first_sequence, segment.prev_hash
    if expected is None or prev_hash is None:
        raise ArchiveProblem("ledger: the manifest lacks the segment's first sequence or starting hash")
    postings = _rows(directory, manifest, LEDGER_POSTINGS)
    pending = next(postings, None)
    last_hash: str | None = None
    for entry in _rows(directory, manifest, LEDGER_ENTRIES):
        where = f"ledger sequence {entry.get('sequence')}"
        if entry.get("sequence") != expected:
            raise ArchiveProblem(f"{where}: sequence gap, expected {expected}")
        if entry.get("prev_hash") != prev_hash:
            raise ArchiveProblem(f"{where}: prev_hash does not match the previous entry's hash")
        lines: list[tuple[str, int]] = []
        while pending is not None and pending.get("entry_sequence") == expected:
            if pending.get("entry_id") != entry.get("id"):
                raise ArchiveProblem(f"{where}: posting {pending.get('id')} names another entry id")
            lines.append((str(pending["account_code"]), int(pending["amount"])))
            pending = next(postings, None)
        _check_entry(where, entry, lines, prev_hash)
        prev_hash = last_hash = str(entry["hash"])
        if expected == segment.first_sequence and last_hash != segment.first_hash:
            raise ArchiveProblem(f"{where}: hash differs from the manifest's first_hash")
        progress["entries"] += 1
        expected += 1
    if pending is not None:
        raise ArchiveProblem(f"ledger posting {pending.get('id')}: no entry {pending.get('entry_sequence')} "
                             "in sequence order to belong to")
    if expected - 1 != segment.last_sequence or last_hash != segment.last_hash:
        raise ArchiveProblem(f"ledger: the chain ends at sequence {expected - 1}, the manifest says "
                             f"{segment.last_sequence} (or the last hash differs)")
    if progress["entries"] != segment.entries:
        raise ArchiveProblem(f"ledger: {progress['entries']} entries chained, the manifest says {segment.entries}")


def _check_entry(where: str, entry: dict[str, Any], lines: list[tuple[str, int]], prev_hash: str) -> None:
    if len(lines) < 2:
        raise ArchiveProblem(f"{where}: entry has fewer than two postings")
    total = sum(amount for _, amount in lines)
    if total != 0:
        raise ArchiveProblem(f"{where}: postings sum to {total}, not zero")
    try:
        digest = chain.entry_hash(prev_hash, sequence=int(entry["sequence"]), event_key=entry["event_key"],
                                  event_type=entry["event_type"],
                                  occurred_at=datetime.fromisoformat(entry["occurred_at"]),
                                  merchant_id=entry["merchant_id"], description=entry["description"],
                                  reverses_entry_id=entry["reverses_entry_id"], postings=lines)
    except (KeyError, TypeError, ValueError) as exc:
        raise ArchiveProblem(f"{where}: entry row is incomplete or malformed ({exc})") from exc
    if digest != entry.get("hash"):
        raise ArchiveProblem(f"{where}: hash mismatch, the entry or its postings were changed")


def anchor(session: Session, manifest: Manifest) -> str | None:
    """Compare the segment's end points with the live ledger; ``None`` when they match, else the problem."""
    segment = manifest.ledger
    if segment.first_sequence is None or segment.last_sequence is None:
        return None
    if segment.first_sequence > 1:
        before = repository.entry_hash(session, segment.first_sequence - 1)
        if before != segment.prev_hash:
            return (f"the database's entry {segment.first_sequence - 1} does not carry the archive's starting "
                    "hash")
    live = repository.entry_hash(session, segment.last_sequence)
    if live != segment.last_hash:
        return f"the database's entry {segment.last_sequence} does not carry the archive's last hash"
    return None
