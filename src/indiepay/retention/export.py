"""Writing an archive: every financial record of the closed months before ``before``.

The rows stay in the database (deleting them is refused, see migration 0005); the archive is a cold,
self-checking copy. Files are written first and ``manifest.json`` last, through a temporary name, so a
directory without a manifest is an interrupted export and is never mistaken for an archive. An archive
is written once: the target directory must be new or empty.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from indiepay.core.clock import BUSINESS_TZ, Clock
from indiepay.core.errors import Conflict, InvalidRequest
from indiepay.retention import repository
from indiepay.retention.jsonl import write_months
from indiepay.retention.ledger_export import export_ledger
from indiepay.retention.manifest import MANIFEST, FileRecord, Manifest
from indiepay.retention.policy import RETENTION_YEARS, Month, check_closed
from indiepay.retention.tables import LEDGER_ENTRIES, LEDGER_POSTINGS, TABLES


@dataclass(frozen=True)
class ExportResult:
    directory: Path
    manifest: Manifest
    manifest_sha256: str


def _prepare(directory: Path) -> None:
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise Conflict(f"{directory} exists and is not an empty directory: an archive is written once",
                       code="archive_exists", details={"directory": str(directory)})
    directory.mkdir(parents=True, exist_ok=True)


def export_archive(session: Session, clock: Clock, *, before: Month, since: Month | None,
                   directory: Path) -> ExportResult:
    """Export the months ``[since, before)`` (all months before ``before`` when ``since`` is None).

    ``session`` must be fresh: the export reads from one snapshot, which on PostgreSQL has to be chosen
    before the first statement.

    Returns:
        Where the archive is, its manifest, and the manifest's SHA-256 (worth recording elsewhere).

    Raises:
        InvalidRequest (``month_not_closed``): the month before ``before`` has not ended yet.
        InvalidRequest (``invalid_month_range``): ``since`` is not before ``before``.
        Conflict (``archive_exists``): ``directory`` exists and is not empty.
    """
    now = clock.now()
    check_closed(before, now)
    if since is not None and since >= before:
        raise InvalidRequest(f"--since {since} must come before --before {before}", code="invalid_month_range")
    repository.use_snapshot(session)
    _prepare(directory)
    files: list[FileRecord] = []
    tables: dict[str, int] = {}
    for spec in TABLES:
        rows = ((spec.month_of(row[spec.column]), row) for row in repository.stream_table(session, spec, since, before))
        written = write_months(directory, spec.name, rows)
        files.extend(written)
        tables[spec.name] = sum(record.rows for record in written)
    ledger_files, segment = export_ledger(session, directory, since, before)
    files.extend(ledger_files)
    tables[LEDGER_ENTRIES], tables[LEDGER_POSTINGS] = segment.entries, segment.postings
    manifest = Manifest(created_at=now.isoformat(), before=str(before), since=str(since) if since else None,
                        timezone=str(BUSINESS_TZ), retention_years=RETENTION_YEARS, tables=tables, files=files,
                        ledger=segment)
    body = manifest.to_json()
    partial = directory / (MANIFEST + ".partial")
    with partial.open("wb") as handle:
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    partial.replace(directory / MANIFEST)
    return ExportResult(directory, manifest, hashlib.sha256(body).hexdigest())
