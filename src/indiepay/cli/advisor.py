"""``indiepay advisor``: the operator's view of the collection-mode advice for one merchant (live data).

It calls services only; the JSON is the same shape as ``GET /v1/advisor``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from indiepay.advisor import rules, service
from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database


def advisor(merchant: Annotated[str, typer.Option("--merchant", help="the merchant id (mch_…)")],
            as_json: Annotated[bool, typer.Option("--json", help="print the advice as JSON")] = False) -> None:
    """Which collection mode suits the merchant, what it saves a year, and whether it is ready to switch."""
    database = Database(Settings().database_url)
    try:
        with database.read() as session:
            report = service.advise(session, SystemClock(), merchant, livemode=True)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    out = service.to_out(report)
    if as_json:
        typer.echo(json.dumps(out.model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    typer.echo(f"merchant {out.merchant_id}: {out.stage} stage, currently {out.current_mode} collection")
    typer.echo(f"recommended: {out.recommended_mode} collection")
    typer.echo(f"monthly volume {rules.yuan(out.monthly_volume)} (90 days: {rules.yuan(out.volume_90d)}); "
               f"yearly fee difference {rules.yuan(out.yearly_fee_difference)} "
               f"(platform {rules.yuan(out.yearly_fee_platform)}, "
               f"independent {rules.yuan(out.yearly_fee_independent)})")
    for reason in out.reasons:
        typer.echo(f"  - {reason}")
    typer.echo("readiness:")
    for item in out.checklist:
        typer.echo(f"  [{'x' if item.done else ' '}] {item.item}")
