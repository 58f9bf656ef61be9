"""``indiepay vault …``: master-key (KEK) rotation for the operator. They call services only.

The keys come from the environment like everywhere else: ``INDIEPAY_MASTER_KEY`` (or the key file) is the
current KEK, ``INDIEPAY_RETIRED_MASTER_KEYS`` the old ones still needed to open what they wrap. Errors are
printed as ``error (<code>): <message>`` with exit code 1, so scripts can match the stable code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from indiepay.audit.service import record
from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database
from indiepay.vault.keyring import Vault, decode_kek, kek_id_of, new_kek
from indiepay.vault.retirement import check_retirable, status
from indiepay.vault.rotation import DEFAULT_BATCH_SIZE, RotationReport, rotate

app = typer.Typer(help="Rotate and retire the vault's master key (KEK).", no_args_is_help=True,
                  add_completion=False)

FAILURES_SHOWN = 20


@app.callback()
def vault() -> None:
    """The vault's key-encrypting keys: INDIEPAY_MASTER_KEY (current) and INDIEPAY_RETIRED_MASTER_KEYS."""


@contextmanager
def _opened() -> Iterator[tuple[Vault, Database]]:
    """The configured vault and database. Unlike ``serve``, never generates a key file: rotating under
    an accidental fresh development key would strand every secret, so a missing key is an error."""
    settings = Settings()
    if not settings.master_key and not settings.resolved_master_key_file.exists():
        raise refused(IndiePayError(f"no master key: set INDIEPAY_MASTER_KEY (no key file at "
                                    f"{settings.resolved_master_key_file})", code="master_key_missing"))
    try:
        vault_ = Vault.from_settings(settings.master_key, settings.resolved_master_key_file,
                                     settings.retired_master_keys)
    except IndiePayError as exc:
        raise refused(exc) from exc
    database = Database(settings.database_url)
    try:
        yield vault_, database
    finally:
        database.dispose()


@app.command(name="new-key")
def new_key() -> None:
    """Print a fresh KEK (32 random bytes, URL-safe base64) on stdout, and its id on stderr."""
    key = new_kek()
    typer.echo(key)
    typer.echo(f"kek id: {kek_id_of(decode_kek(key))}", err=True)


@app.command(name="status")
def show_status() -> None:
    """Per KEK id: how many secrets it wraps, and whether it is current, retired (loaded) or not loaded."""
    with _opened() as (vault_, database):
        rows = status(database, vault_)
    for row in rows:
        tables = ", ".join(f"{table}: {count}" for table, count in sorted(row.per_table.items())) or "-"
        typer.echo(f"{row.kek_id:<18} {row.state:<11} {row.secrets:>8} secrets  ({tables})")
    pending = sum(row.secrets for row in rows if row.state != "current")
    if pending:
        typer.echo(f"{pending} secret(s) are not under the current key: run `indiepay vault rotate`")


@app.command(name="rotate")
def rotate_command(batch_size: Annotated[int, typer.Option(min=1, help="rows per transaction")]
                   = DEFAULT_BATCH_SIZE) -> None:
    """Re-wrap every secret under the current KEK (INDIEPAY_MASTER_KEY), in batches; safe to re-run.

    Exits 0 when every secret is under the current key, 1 when some could not be re-wrapped (listed).
    """
    with _opened() as (vault_, database), Progress(
            TextColumn("{task.description:<20}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=Console(stderr=True)) as progress:
        tasks: dict[str, TaskID] = {}

        def on_table(table: str, total: int) -> None:
            tasks[table] = progress.add_task(table, total=total)

        def on_batch(table: str, rows: int) -> None:
            progress.advance(tasks[table], rows)

        report = rotate(database, vault_, batch_size=batch_size, on_table=on_table, on_batch=on_batch)
        _audit_rotation(database, report)
    _summary(report)
    if not report.complete:
        raise typer.Exit(code=1)


def _audit_rotation(database: Database, report: RotationReport) -> None:
    with database.transaction() as session:
        record(session, SystemClock(), actor="cli", action="vault.rotated", target_type="kek",
               target_id=report.current_kek_id, origin="cli", result="ok" if report.complete else "refused",
               details={"rewrapped": sum(c.rewrapped for c in report.tables.values()),
                        "failures": len(report.failures)})


def _summary(report: RotationReport) -> None:
    typer.echo(f"current key: {report.current_kek_id}")
    for table, counts in report.tables.items():
        typer.echo(f"  {table:<20} {counts.rewrapped:>8} re-wrapped  {counts.already_current:>8} already current"
                   f"  ({counts.rows} rows, {counts.rows_written} written, {counts.conflicts_retried} retried)")
    failures = report.failures
    if not failures:
        typer.echo("every secret is wrapped by the current key; retired keys can now be retired "
                   "(`indiepay vault retire KEK_ID`)")
        return
    codes = sorted({failure.code for failure in failures})
    typer.echo(f"error ({', '.join(codes)}): {len(failures)} secret(s) could not be re-wrapped:", err=True)
    for failure in failures[:FAILURES_SHOWN]:
        where = f"{failure.table}/{failure.row_id}" + (f"/{failure.field}" if failure.field else "")
        typer.echo(f"  {where}: {failure.code} (kek {failure.kek_id or '?'}): {failure.message}", err=True)
    if len(failures) > FAILURES_SHOWN:
        typer.echo(f"  … and {len(failures) - FAILURES_SHOWN} more", err=True)


@app.command()
def retire(kek_id: Annotated[str, typer.Argument(help="the KEK id shown by `indiepay vault status`")]) -> None:
    """Check that KEK_ID wraps no secret any more, so it can be removed from INDIEPAY_RETIRED_MASTER_KEYS.

    Exits 1 with ``kek_still_in_use`` while any secret is wrapped by it (``kek_is_current`` for the current key).
    """
    with _opened() as (vault_, database):
        try:
            check_retirable(database, vault_, kek_id)
        except IndiePayError as exc:
            raise refused(exc) from exc
        loaded = vault_.holds(kek_id)
    if loaded:
        typer.echo(f"{kek_id} wraps no secret: remove it from INDIEPAY_RETIRED_MASTER_KEYS on every process "
                   "and restart them (keep an offline backup until your backups no longer need it)")
    else:
        typer.echo(f"{kek_id} wraps no secret and is not loaded: nothing to remove")
