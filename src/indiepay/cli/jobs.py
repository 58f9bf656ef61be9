"""``indiepay jobs``: the job queue as the operator sees it — list (dead ones by default), show, requeue a
dead job once its cause is mended, and prune the operational rows past use now rather than at 04:30. Calls
the housekeeping service only."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database
from indiepay.housekeeping import service
from indiepay.housekeeping.schemas import job_out

app = typer.Typer(help="The job queue: list, show, requeue dead jobs; prune what is past use.",
                  no_args_is_help=True, add_completion=False)


@app.callback()
def jobs() -> None:
    """The durable job queue in the database (INDIEPAY_DATABASE_URL)."""


def _database() -> Database:
    settings = Settings()
    return Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)


@app.command("list")
def list_jobs(status: Annotated[str, typer.Option(help="queued, running, done or dead")] = "dead",
              kind: Annotated[str | None, typer.Option(help="only jobs of this kind")] = None,
              limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
              as_json: Annotated[bool, typer.Option("--json", help="print the jobs as JSON")] = False) -> None:
    """The jobs of one status, latest due first. Exit 2 for an unknown status."""
    database = _database()
    try:
        with database.read() as session:
            found = [job_out(job) for job in service.list_jobs(session, status=status, kind=kind, limit=limit)]
    except IndiePayError as exc:
        raise refused(exc, exit_code=2) from exc
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps([job.model_dump(mode="json") for job in found], indent=2, ensure_ascii=False))
        return
    if not found:
        typer.echo(f"no {status} jobs")
        return
    for job in found:
        error = (job.last_error or "").splitlines()[0][:100] if job.last_error else ""
        typer.echo(f"{job.id}  {job.kind:<28} {job.attempts}/{job.max_attempts}  due {job.run_at:%Y-%m-%d %H:%M:%S}Z"
                   f"  {error}".rstrip())


@app.command()
def show(job_id: str) -> None:
    """One job as JSON (its arguments and last error in full). Exit 1 when there is no such job."""
    database = _database()
    try:
        with database.read() as session:
            found = job_out(service.get_job(session, job_id))
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    typer.echo(json.dumps(found.model_dump(mode="json"), indent=2, ensure_ascii=False))


@app.command()
def requeue(job_id: str,
            note: Annotated[str | None, typer.Option(help="why it may run now (audit log)")] = None) -> None:
    """Queue a dead job again, due now, attempts counted afresh; recorded in the audit log (actor ``cli``).
    A running worker picks it up at its next poll. Exit 1 when the job is missing or not dead."""
    database = _database()
    try:
        with database.transaction() as session:
            done = service.requeue(session, SystemClock(), job_id=job_id, actor="cli", note=note)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    typer.echo(f"requeued {done.job_id} ({done.kind}; it had used {done.attempts_before} attempt(s))")


@app.command()
def prune(as_json: Annotated[bool, typer.Option("--json", help="print the counts as JSON")] = False) -> None:
    """Delete the operational rows past use now (what the daily housekeeping job does): idempotency records,
    finished and long-dead jobs, old webhook delivery logs. Financial records are never touched."""
    database = _database()
    try:
        pruned = service.prune(database, SystemClock())
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps({"deleted": pruned.deleted, "transactions": pruned.transactions}))
        return
    parts = ", ".join(f"{kind} {count}" for kind, count in pruned.deleted.items())
    typer.echo(f"pruned {pruned.total} row(s) in {pruned.transactions} transaction(s): {parts}")
