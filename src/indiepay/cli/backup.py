"""``indiepay backup create | check``: a checked, consistent copy of a SQLite database, taken while it serves.
They call the retention service only (:mod:`indiepay.retention.backup`)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.errors import IndiePayError
from indiepay.retention.backup import BackupReport, check_backup, create_backup

app = typer.Typer(help="Back up the SQLite database online, and check a backup.", no_args_is_help=True,
                  add_completion=False)


@app.callback()
def backup() -> None:
    """Online backups of the SQLite database (INDIEPAY_DATABASE_URL). PostgreSQL: use pg_dump."""


def _print(report: BackupReport) -> None:
    rows = ", ".join(f"{name} {count}" for name, count in report.rows.items())
    typer.echo(f"{report.path}: {report.size_bytes} bytes, sha256 {report.sha256}")
    typer.echo(f"  schema {report.schema_revision}; rows: {rows}")
    typer.echo(f"  integrity ok; ledger chain ok ({report.ledger_entries_verified} entries); "
               f"audit chain ok ({report.audit_events_verified} events); {report.seconds} s")


@app.command()
def create(destination: Annotated[Path | None, typer.Argument(
        help="a new file (default: VAR_DIR/backups/indiepay-YYYYMMDDTHHMMSSZ.db)")] = None) -> None:
    """Copy the database in one consistent snapshot (the service may keep running), check the copy, keep it.

    Exits 0 with what the backup holds; 1 when refused (not SQLite, destination exists, the copy failed its
    check — then nothing is kept). The master key is not in a backup: keep it apart.
    """
    settings = Settings()
    if destination is None:
        folder = settings.var_dir / "backups"
        folder.mkdir(parents=True, exist_ok=True)
        destination = folder / f"indiepay-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.db"
    try:
        report = create_backup(settings.database_url, destination)
    except IndiePayError as exc:
        raise refused(exc) from exc
    _print(report)
    where = "INDIEPAY_MASTER_KEY" if settings.master_key else str(settings.resolved_master_key_file)
    typer.echo(f"  not in it: the master key ({where}), without which its channel credentials cannot be "
               "opened — keep a copy of it apart from the backups")


@app.command()
def check(path: Annotated[Path, typer.Argument(help="a backup file")]) -> None:
    """Check a backup without changing it: integrity, ledger and audit hash chains. Exits 0 if it is sound,
    1 with the first problem otherwise."""
    try:
        report = check_backup(path)
    except IndiePayError as exc:
        raise refused(exc) from exc
    _print(report)
