"""HTTP: ``GET /v1/advisor`` — the collection-mode advice for the caller's merchant (admin: ``?merchant_id=``).

A test key gets the advice computed over its test payments and sandbox accounts; live keys and the admin
over live payments and production accounts. For a test key the checklist and ``ready`` are therefore a
rehearsal (``livemode`` false): the switch itself (``PUT /v1/merchants/{id}/collection_mode``) takes the
live key or the admin key and checks the production accounts.
"""

from __future__ import annotations

from fastapi import APIRouter

from indiepay.advisor import service
from indiepay.advisor.schemas import AdvisorOut
from indiepay.httpapi.deps import Caller, Ctx

router = APIRouter(prefix="/v1/advisor", tags=["advisor"])


@router.get("", response_model=AdvisorOut)
def get_advice(ctx: Ctx, caller: Caller, merchant_id: str | None = None) -> AdvisorOut:
    """Stage, recommended collection mode, yearly fee difference, reasons and readiness checklist."""
    scope = caller.merchant_named(merchant_id)
    with ctx.db.read() as session:
        report = service.advise(session, ctx.clock, scope, livemode=caller.livemode)
    return service.to_out(report)
