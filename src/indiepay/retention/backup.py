"""Online backups of a SQLite database: a consistent copy taken while the platform serves, checked before
it is kept.

``make serve`` runs on SQLite, and the ``sqlite3`` shell that ``.backup`` needs is not installed with
IndiePay — and a copy nobody has opened is not yet a backup. So :func:`create_backup` copies through
SQLite's online backup API in **one step**: one read transaction, hence one consistent snapshot of every
table even while payments are being written (under WAL a reader never blocks the writers). The copy is
written beside the destination as ``NAME.partial``, switched to a plain rollback journal (a single
self-contained file), flushed to disk, then checked by :func:`check_backup` — SQLite's
``integrity_check``, and the ledger's and the audit log's hash chains recomputed on the copy — and only
then renamed to its name. A failed or interrupted backup leaves no file under the destination's name.

What a backup does not hold: the master key (the vault's KEK, ``INDIEPAY_MASTER_KEY`` or
``VAR_DIR/master.key``), without which the channel credentials in it cannot be opened. Keep it apart from
the backups (docs/OPERATIONS.md). PostgreSQL has its own tools (``pg_dump``, continuous archiving);
this module refuses a PostgreSQL URL rather than wrapping them.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.exc import DatabaseError as SQLAlchemyDatabaseError
from sqlalchemy.orm import Session

from indiepay.audit.service import verify as verify_audit
from indiepay.core.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from indiepay.db.engine import normalise_url, sqlite_file
from indiepay.ledger.verify import verify as verify_ledger
from indiepay.retention.jsonl import sha256_of

PARTIAL_SUFFIX = ".partial"
COUNTED_TABLES = ("payments", "refunds", "ledger_entries", "audit_events")


@dataclass(frozen=True)
class BackupReport:
    """What a checked backup holds. ``schema_revision``: the Alembic revision of the copy (a backup restores
    with the code of that revision or newer, which migrates it)."""

    path: Path
    size_bytes: int
    sha256: str
    schema_revision: str | None
    rows: dict[str, int]
    ledger_entries_verified: int
    audit_events_verified: int
    seconds: float


def create_backup(database_url: str, destination: Path) -> BackupReport:
    """Copy the SQLite database at ``database_url`` to ``destination`` (a new file), check the copy, keep it.

    Raises:
        InvalidRequest: ``backup_not_sqlite`` (use PostgreSQL's tools), ``backup_directory_missing``.
        NotFound: ``backup_source_missing`` (no database file there).
        Conflict: ``backup_exists`` (a backup is never overwritten).
        Unprocessable: ``backup_broken`` — the copy failed its check (the source needs attention: run
            ``indiepay ledger verify`` and ``indiepay audit verify`` on it); nothing is kept.
    """
    started = time.perf_counter()
    source = _sqlite_path(database_url)
    destination = destination.expanduser().absolute()
    if destination.exists():
        raise Conflict(f"{destination} exists: a backup is never overwritten", code="backup_exists",
                       details={"path": str(destination)})
    if not destination.parent.is_dir():
        raise InvalidRequest(f"no directory {destination.parent}", code="backup_directory_missing",
                             details={"path": str(destination.parent)})
    partial = destination.with_name(destination.name + PARTIAL_SUFFIX)
    partial.unlink(missing_ok=True)  # what an interrupted earlier attempt left
    try:
        _copy(source, partial)
        report = check_backup(partial)
        os.replace(partial, destination)
        _sync_directory(destination.parent)
    finally:
        partial.unlink(missing_ok=True)
    return BackupReport(destination, report.size_bytes, report.sha256, report.schema_revision, report.rows,
                        report.ledger_entries_verified, report.audit_events_verified,
                        round(time.perf_counter() - started, 3))


def check_backup(path: Path) -> BackupReport:
    """Open a backup read-only and check it: SQLite's ``integrity_check``, then the ledger's and the audit
    log's hash chains and balances recomputed from its rows. Never writes to the file.

    Raises:
        NotFound: ``backup_missing``. Unprocessable: ``backup_broken`` with ``details.problem``.
    """
    started = time.perf_counter()
    if not path.is_file():
        raise NotFound(f"no backup file {path}", code="backup_missing", details={"path": str(path)})
    try:
        with _read_only(path) as connection:
            found = [row[0] for row in connection.execute("PRAGMA integrity_check").fetchall()]
            if found != ["ok"]:
                raise _broken(path, "integrity_check", "; ".join(found[:5]))
            tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            missing = [name for name in (*COUNTED_TABLES, "alembic_version") if name not in tables]
            if missing:
                raise _broken(path, "not_an_indiepay_database", f"no table {', '.join(missing)}")
            revision = connection.execute("SELECT version_num FROM alembic_version").fetchone()
            rows = {name: int(connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0])  # noqa: S608
                    for name in COUNTED_TABLES}
    except sqlite3.DatabaseError as exc:  # not a database, or a page unreadable before the check got to it
        raise _broken(path, "unreadable", str(exc)) from exc
    ledger, audit = _verify_chains(path)
    return BackupReport(path, path.stat().st_size, sha256_of(path), revision[0] if revision else None, rows,
                        ledger, audit, round(time.perf_counter() - started, 3))


def _sqlite_path(database_url: str) -> Path:
    url = normalise_url(database_url)
    if not url.startswith("sqlite"):
        raise InvalidRequest("only a SQLite database is backed up by IndiePay; back up PostgreSQL with pg_dump "
                             "or continuous archiving", code="backup_not_sqlite")
    name = sqlite_file(url)
    if name is None or not Path(name).is_file():
        raise NotFound(f"no SQLite database at {name or url}", code="backup_source_missing")
    return Path(name)


def _copy(source: Path, partial: Path) -> None:
    # mode=rw: never creates a file; it only reads (a read-only connection could not join a WAL database
    # whose -shm it may not write)
    reader = sqlite3.connect(f"{source.absolute().as_uri()}?mode=rw", uri=True, timeout=30)
    try:
        writer = sqlite3.connect(partial)
        try:
            reader.backup(writer)  # pages=-1: all of it in one step, one read transaction, one snapshot
            writer.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
            writer.commit()
        finally:
            writer.close()
    finally:
        reader.close()
    with partial.open("rb+") as handle:
        os.fsync(handle.fileno())


@contextlib.contextmanager
def _read_only(path: Path) -> Iterator[sqlite3.Connection]:
    # immutable: SQLite takes no lock and writes no -shm or -journal beside a file it may not change
    connection = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True)
    try:
        yield connection
    finally:
        connection.close()


def _verify_chains(path: Path) -> tuple[int, int]:
    engine = create_engine("sqlite://", creator=lambda: sqlite3.connect(
        f"{path.absolute().as_uri()}?mode=ro&immutable=1", uri=True, check_same_thread=False))
    try:
        with Session(engine) as session:
            ledger = verify_ledger(session)
            if not ledger.ok:
                raise _broken(path, "ledger_chain", f"sequence {ledger.first_broken_sequence}: {ledger.reason}")
            audit = verify_audit(session)
            if not audit.ok:
                raise _broken(path, "audit_chain", f"sequence {audit.first_broken_sequence}: {audit.reason}")
    except SQLAlchemyDatabaseError as exc:
        raise _broken(path, "unreadable", str(exc.orig)) from exc
    finally:
        engine.dispose()
    return ledger.entries_checked, audit.events_checked


def _broken(path: Path, problem: str, detail: str) -> Unprocessable:
    return Unprocessable(f"the backup {path} failed its check ({problem}): {detail}", code="backup_broken",
                         details={"path": str(path), "problem": problem, "detail": detail[:500]})


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (a crash right after it must not bring back the old name)."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
