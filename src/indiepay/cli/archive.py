"""``indiepay archive …``: cold, verifiable copies of the financial records. They call services only.

Nothing here deletes anything: the database keeps every record for at least five years (and refuses
deletion); an archive is the copy for auditors and off-site backups.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError, InvalidRequest
from indiepay.db.engine import Database
from indiepay.retention.export import export_archive
from indiepay.retention.policy import RETENTION_YEARS, Month
from indiepay.retention.status import RetentionStatus, retention_status
from indiepay.retention.verify import anchor, verify_archive

app = typer.Typer(help="Export, verify and inspect archives of the financial records.", no_args_is_help=True,
                  add_completion=False)


@app.callback()
def archive() -> None:
    """Cold archives of the financial records (INDIEPAY_DATABASE_URL); nothing is ever deleted."""


def _month(text: str | None, option: str) -> Month | None:
    if text is None:
        return None
    try:
        return Month.parse(text)
    except IndiePayError as exc:
        raise refused(InvalidRequest(f"{option}: {exc.message}", code=exc.code), exit_code=2) from exc


@app.command()
def export(before: Annotated[str, typer.Option("--before", help="archive the closed months before this one, "
                                                                  "YYYY-MM (Beijing time)")],
           since: Annotated[str | None, typer.Option("--since", help="first month to include, YYYY-MM "
                                                                     "(default: the beginning)")] = None,
           out: Annotated[Path | None, typer.Option("--out", help="a new or empty directory "
                                                                  "(default: VAR_DIR/archive/…)")] = None) -> None:
    """Write every financial record of the months before --before as gzip JSON Lines plus manifest.json.

    Rows stay in the database. Exits 0 with a summary; 2 for a malformed month; 1 when the export is
    refused (month not over yet, directory not empty).
    """
    settings = Settings()
    first = _month(since, "--since")
    end = _month(before, "--before")
    assert end is not None
    name = f"{first}_to_{end}" if first is not None else f"before-{end}"
    directory = out if out is not None else settings.var_dir / "archive" / name
    database = Database(settings.database_url)
    try:
        with database.read() as session:
            result = export_archive(session, SystemClock(), before=end, since=first, directory=directory)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    manifest = result.manifest
    typer.echo(f"archive written to {result.directory}")
    for table, rows in manifest.tables.items():
        typer.echo(f"  {table:<24} {rows:>10} rows")
    segment = manifest.ledger
    if segment.first_sequence is not None:
        typer.echo(f"  ledger chain: sequences {segment.first_sequence}..{segment.last_sequence}, "
                   f"last hash {segment.last_hash}")
    typer.echo(f"manifest.json sha256 {result.manifest_sha256} (record it apart from the archive)")


@app.command()
def verify(directory: Annotated[Path, typer.Argument(help="the archive directory (holds manifest.json)")],
           against_database: Annotated[bool, typer.Option(
               "--against-database", help="also check the chain's end points against INDIEPAY_DATABASE_URL")] = False,
           ) -> None:
    """Re-hash every file, re-count its rows and re-compute the ledger chain segment inside the archive.

    Exits 0 when the archive is intact, 1 with the first problem otherwise.
    """
    check = verify_archive(directory)
    problem = check.problem
    if check.ok and against_database and check.manifest is not None:
        database = Database(Settings().database_url)
        try:
            with database.read() as session:
                problem = anchor(session, check.manifest)
        finally:
            database.dispose()
    if problem is not None:
        typer.echo(f"archive BROKEN: {problem} ({check.files_checked} files, {check.rows_checked} rows, "
                   f"{check.entries_checked} ledger entries verified before it)", err=True)
        raise typer.Exit(code=1)
    segment = check.manifest.ledger if check.manifest is not None else None
    chained = (f"ledger sequences {segment.first_sequence}..{segment.last_sequence} chain intact"
               if segment is not None and segment.first_sequence is not None else "no ledger entries")
    anchored = "; matches the database" if against_database else ""
    typer.echo(f"archive OK: {check.files_checked} files, {check.rows_checked} rows, {chained}{anchored}")


@app.command()
def status(live_window_months: Annotated[int | None, typer.Option(
        "--live-window-months", help="months counted as live (default INDIEPAY_RETENTION_LIVE_WINDOW_MONTHS)")
        ] = None) -> None:
    """Print, per table, the oldest record and how many are older than the live window."""
    settings = Settings()
    months = settings.retention_live_window_months if live_window_months is None else live_window_months
    database = Database(settings.database_url)
    try:
        with database.read() as session:
            report = retention_status(session, SystemClock(), months)
    except IndiePayError as exc:
        raise refused(exc, exit_code=2) from exc
    finally:
        database.dispose()
    typer.echo(_status_table(report))


def _status_table(report: RetentionStatus) -> str:
    head = (f"live window: {report.live_window_months} months (records before {report.live_window_start}); "
            f"retention: at least {RETENTION_YEARS} years (before {report.retention_floor}); "
            "nothing is ever deleted")
    columns = ("table", "rows", "oldest", "older_than_live_window", f"older_than_{RETENTION_YEARS}_years")
    rows = [(age.table, str(age.rows), _when(age.oldest), str(age.older_than_live_window), str(age.past_retention))
            for age in report.tables]
    widths = [max(len(column), *(len(row[n]) for row in rows)) for n, column in enumerate(columns)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if n in (0, 2) else c.rjust(w)
                         for n, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    hint = (f"archive them with: indiepay archive export --before {report.live_window_start}"
            if report.archivable else "nothing lies before the live window")
    return "\n".join([head, line(columns), *(line(row) for row in rows), hint])


def _when(value: object) -> str:
    if value is None:
        return "-"
    return value.isoformat(timespec="seconds") if hasattr(value, "isoformat") else str(value)
