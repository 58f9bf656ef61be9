"""``manifest.json``: the index that lets an archive be checked without the database.

It lists every file with its table, month, row count, size and SHA-256, the row total per table, and the
ledger segment the archive holds: its first and last sequence, the chain hash it starts from (the hash of
the entry before it, or the genesis hash) and the hashes of its first and last entries. The last hash is
the archive's anchor: it must equal the live ledger's hash at that sequence, and an auditor who noted it
(or the manifest's own SHA-256, printed on export) can tell a genuine archive from a rebuilt one.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

FORMAT = "indiepay-archive/1"
MANIFEST = "manifest.json"


class ManifestError(ValueError):
    """The manifest is missing, unreadable or not an IndiePay archive manifest."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class FileRecord(_Frozen):
    """One ``<table>/<YYYY-MM>.jsonl.gz`` file; ledger files also name the sequences they hold."""

    path: str
    table: str
    month: str
    rows: int
    bytes: int
    sha256: str
    first_sequence: int | None = None
    last_sequence: int | None = None

    @field_validator("path")
    @classmethod
    def _inside(cls, value: str) -> str:
        # a manifest is input to the verifier too: never let it point outside the archive
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or not path.parts:
            raise ValueError(f"file path must stay inside the archive: {value!r}")
        return value


class LedgerSegment(_Frozen):
    """The unbroken run of the hash chain in the archive (all ``None`` / 0 when it holds no entries)."""

    first_sequence: int | None = None
    last_sequence: int | None = None
    entries: int = 0
    postings: int = 0
    prev_hash: str | None = None
    first_hash: str | None = None
    last_hash: str | None = None


class Manifest(_Frozen):
    format: str = FORMAT
    created_at: str
    before: str
    since: str | None
    timezone: str
    retention_years: int
    tables: dict[str, int]
    files: list[FileRecord]
    ledger: LedgerSegment

    def to_json(self) -> bytes:
        return (self.model_dump_json(indent=2) + "\n").encode("utf-8")


def read_manifest(directory: Path) -> Manifest:
    """Load and validate ``directory/manifest.json``.

    Raises:
        ManifestError: missing, not JSON, wrong shape or an unknown format version.
    """
    path = directory / MANIFEST
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "manifest"
        raise ManifestError(f"{path} is not a valid archive manifest: {where}: {first['msg']}") from exc
    if manifest.format != FORMAT:
        raise ManifestError(f"{path} has format {manifest.format!r}; this version reads {FORMAT!r}")
    return manifest
