"""``indiepay settle --date YYYY-MM-DD``: settle one finished business day by hand (the worker does it
every night at 02:00 Beijing time). It calls the settlement service only; payouts are sent by a worker."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database
from indiepay.settlements import rules
from indiepay.settlements.schemas import settlement_out
from indiepay.settlements.service import Batch, settle_day

COLUMNS = ("merchant", "cur", "carried_in", "payments", "refunds", "platform_fee", "channel_fee", "other", "net",
           "payout", "status")


def settle(date: Annotated[str, typer.Option("--date", help="the business day to settle, YYYY-MM-DD (Beijing)")],
           as_json: Annotated[bool, typer.Option("--json", help="print the batches as JSON")] = False) -> None:
    """Settle a finished business day for every merchant (idempotent) and print its batches.

    Exits 0 with the batches; 2 for a malformed date; 1 when the day cannot be settled (not over yet, or
    out of order).
    """
    try:
        day = rules.parse_business_date(date)
    except IndiePayError as exc:
        raise refused(exc, exit_code=2) from exc
    database = Database(Settings().database_url)
    try:
        with database.transaction() as session:
            batches = settle_day(session, SystemClock(), day)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    if as_json:
        typer.echo(json.dumps([settlement_out(b.settlement, b.payout).model_dump(mode="json") for b in batches],
                              indent=2))
        return
    typer.echo(_table(day.isoformat(), batches))


def _table(day: str, batches: list[Batch]) -> str:
    if not batches:
        return f"{day}: nothing to settle"
    rows = [[s.merchant_id, s.currency, *(str(v) for v in (s.carried_in, s.payments_amount, s.refunds_amount,
                                                           s.platform_fee, s.channel_fee, s.other_amount,
                                                           s.net_amount, s.payout_amount)), s.status]
            for s in (b.settlement for b in batches)]
    widths = [max(len(c), *(len(r[n]) for r in rows)) for n, c in enumerate(COLUMNS)]
    numeric = range(2, len(COLUMNS) - 1)

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.rjust(w) if n in numeric else c.ljust(w)
                         for n, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    totals: dict[str, int] = {}
    for batch in batches:
        totals[batch.settlement.currency] = totals.get(batch.settlement.currency, 0) + batch.settlement.payout_amount
    paid = ", ".join(f"{currency} {total}" for currency, total in sorted(totals.items()))
    return "\n".join([f"settlement {day} (amounts in fen)", line(COLUMNS), *(line(r) for r in rows),
                      f"{len(batches)} batch(es); to pay out: {paid}"])
