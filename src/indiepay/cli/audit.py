"""``indiepay audit verify``: recompute the audit log's hash chain. Calls the audit service only."""

from __future__ import annotations

import typer

from indiepay.audit.service import verify as verify_chain
from indiepay.config import Settings
from indiepay.db.engine import Database

app = typer.Typer(help="The audit log: verify its hash chain.", no_args_is_help=True, add_completion=False)


@app.callback()
def audit() -> None:
    """The append-only, hash-chained audit log (INDIEPAY_DATABASE_URL)."""


@app.command()
def verify() -> None:
    """Exit 0 when every event chains correctly; 1 with the first broken sequence otherwise."""
    database = Database(Settings().database_url)
    try:
        with database.read() as session:
            result = verify_chain(session)
    finally:
        database.dispose()
    if result.ok:
        typer.echo(f"audit log ok: {result.events_checked} events, head at sequence {result.head_sequence}")
        return
    typer.echo(f"audit log broken at sequence {result.first_broken_sequence}: {result.reason}", err=True)
    raise typer.Exit(code=1)
