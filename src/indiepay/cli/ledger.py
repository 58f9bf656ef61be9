"""``indiepay ledger …`` commands: operator checks on the double-entry ledger. They call services only."""

from __future__ import annotations

import typer

from indiepay.config import Settings
from indiepay.db.engine import Database
from indiepay.ledger.verify import verify as verify_ledger

app = typer.Typer(help="Inspect and verify the double-entry ledger.", no_args_is_help=True, add_completion=False)


@app.callback()
def ledger() -> None:
    """Inspect and verify the double-entry ledger (INDIEPAY_DATABASE_URL)."""


@app.command()
def verify() -> None:
    """Recompute the ledger's hash chain and check that every entry and all balances sum to zero.

    Exits 0 when the ledger is intact, 1 with the first broken entry otherwise.
    """
    settings = Settings()
    database = Database(settings.database_url)
    try:
        with database.read() as session:
            result = verify_ledger(session)
    finally:
        database.dispose()
    totals = ", ".join(f"{currency} {total}" for currency, total in sorted(result.currency_totals.items())) or "none"
    if result.ok:
        typer.echo(f"ledger OK: {result.entries_checked} entries, chain head at sequence {result.head_sequence}, "
                   f"totals per currency (fen): {totals}")
        return
    typer.echo(f"ledger BROKEN at sequence {result.first_broken_sequence}: {result.reason} "
               f"({result.entries_checked} entries verified before it; totals per currency (fen): {totals})", err=True)
    raise typer.Exit(code=1)
