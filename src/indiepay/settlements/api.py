"""HTTP: settlement batches (a merchant sees its own; the operator sees all and may filter by merchant).

Settlements move live money only, so test keys are refused rather than shown live data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.core.errors import InvalidRequest, PermissionDenied
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal
from indiepay.settlements import rules, service
from indiepay.settlements.schemas import SettlementList, SettlementOut, settlement_out

router = APIRouter(prefix="/v1/settlements", tags=["settlements"])


def _scope(caller: Principal) -> str | None:
    """The merchant whose batches the caller may read (None: the admin reads everything)."""
    if caller.is_admin:
        return None
    if not caller.livemode:
        raise PermissionDenied("settlements hold live money only: use a live key", code="livemode_required")
    return caller.require_merchant()


@router.get("", response_model=SettlementList)
def list_settlements(ctx: Ctx, caller: Caller, merchant_id: str | None = None,
                     date: Annotated[str | None, Query(description="business day, YYYY-MM-DD")] = None,
                     limit: Annotated[int, Query(ge=1, le=100)] = 20,
                     starting_after: str | None = None) -> SettlementList:
    scope = _scope(caller)
    if scope is not None and merchant_id is not None and merchant_id != scope:
        raise InvalidRequest("merchant_id is an operator filter", code="invalid_request",
                             details={"param": "merchant_id"})
    business_date = rules.parse_business_date(date) if date is not None else None
    with ctx.db.read() as session:
        page = service.list_settlements(session, merchant_id=scope or merchant_id, business_date=business_date,
                                        limit=limit, starting_after=starting_after)
    return SettlementList(data=[settlement_out(b.settlement, b.payout) for b in page.batches], has_more=page.has_more)


@router.get("/{settlement_id}", response_model=SettlementOut)
def get_settlement(settlement_id: str, ctx: Ctx, caller: Caller) -> SettlementOut:
    scope = _scope(caller)
    with ctx.db.read() as session:
        batch = service.get_settlement(session, settlement_id, merchant_id=scope)
    return settlement_out(batch.settlement, batch.payout)
