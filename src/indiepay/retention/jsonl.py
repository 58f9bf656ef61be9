"""Gzip-compressed JSON Lines, one file per table and month, written and read a row at a time.

Each line is one row as canonical JSON (sorted keys, no spaces, UTF-8; instants in ISO 8601 UTC, money
as integer fen). The gzip header carries no name and no timestamp, so exporting the same rows twice gives
byte-identical files and the same SHA-256 — an auditor can re-export and compare.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

from indiepay.core.clock import as_utc
from indiepay.retention.manifest import FileRecord
from indiepay.retention.policy import Month

CHUNK = 1 << 20


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return as_utc(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    raise TypeError(f"cannot archive a {type(value).__name__}")


def encode(row: dict[str, Any]) -> bytes:
    """One row as a canonical JSON line."""
    return json.dumps(row, default=_default, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8") + b"\n"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class _MonthFile:
    def __init__(self, root: Path, table: str, month: Month, sequence_key: str | None) -> None:
        self.relative = f"{table}/{month}.jsonl.gz"
        self.path = root / self.relative
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.table, self.month, self.sequence_key = table, month, sequence_key
        self.rows = 0
        self.first: int | None = None
        self.last: int | None = None
        self._raw: IO[bytes] = self.path.open("xb")  # never overwrite: an archive is written once
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._raw, mtime=0)

    def write(self, row: dict[str, Any]) -> None:
        self._gzip.write(encode(row))
        self.rows += 1
        if self.sequence_key is not None:
            sequence = int(row[self.sequence_key])
            self.first = sequence if self.first is None else self.first
            self.last = sequence

    def close(self) -> FileRecord:
        self._gzip.close()
        self._raw.close()
        return FileRecord(path=self.relative, table=self.table, month=str(self.month), rows=self.rows,
                          bytes=self.path.stat().st_size, sha256=sha256_of(self.path),
                          first_sequence=self.first, last_sequence=self.last)


def write_months(root: Path, table: str, rows: Iterable[tuple[Month, dict[str, Any]]], *,
                 sequence_key: str | None = None) -> list[FileRecord]:
    """Write ``(month, row)`` pairs, which arrive grouped by month in ascending order, to one file per month.

    Only one file is open at a time and rows are written as they come, so memory stays flat whatever the
    table's size. With ``sequence_key`` each record also names the first and last sequence it holds.

    Raises:
        ValueError: a row's month is earlier than the one before it (the query's order is wrong).
        FileExistsError: the month's file exists already.
    """
    records: list[FileRecord] = []
    current: _MonthFile | None = None
    try:
        for month, row in rows:
            if current is not None and month != current.month:
                if month < current.month:
                    raise ValueError(f"{table}: rows out of month order ({month} after {current.month})")
                records.append(current.close())
                current = None
            if current is None:
                current = _MonthFile(root, table, month, sequence_key)
            current.write(row)
        if current is not None:
            records.append(current.close())
            current = None
    finally:
        if current is not None:  # an error mid-file: release it; the archive has no manifest and is unusable
            current.close()
    return records


def read_rows(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of one archive file, one at a time.

    Raises:
        ValueError: a line is not JSON, or not a JSON object.
        OSError, EOFError: the gzip data is corrupt or cut short.
    """
    with gzip.open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"line {number} is not a JSON object")
            yield row
