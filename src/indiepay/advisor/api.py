"""HTTP: ``GET /v1/advisor`` — the collection-mode advice for the caller's merchant (admin: ``?merchant_id=``).

A test key gets the advice computed over its test payments and sandbox accounts; live keys and the admin
over live payments and production accounts.
"""

from __future__ import annotations

from fastapi import APIRouter

from indiepay.advisor import service
from indiepay.advisor.schemas import AdvisorOut
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal

router = APIRouter(prefix="/v1/advisor", tags=["advisor"])


def _merchant(caller: Principal, merchant_id: str | None) -> str:
    if caller.is_admin:
        if not merchant_id:
            raise InvalidRequest("the admin key must name the merchant: ?merchant_id=", code="merchant_id_required")
        return merchant_id
    own = caller.require_merchant()
    if merchant_id is not None and merchant_id != own:
        raise NotFound("no such merchant", code="merchant_not_found")
    return own


@router.get("", response_model=AdvisorOut)
def get_advice(ctx: Ctx, caller: Caller, merchant_id: str | None = None) -> AdvisorOut:
    """Stage, recommended collection mode, yearly fee difference, reasons and readiness checklist."""
    scope = _merchant(caller, merchant_id)
    with ctx.db.read() as session:
        report = service.advise(session, ctx.clock, scope, livemode=caller.livemode)
    return service.to_out(report)
