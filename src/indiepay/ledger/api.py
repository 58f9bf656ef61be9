"""HTTP: ledger balances and entries (a merchant sees its own accounts and entries; the admin sees all).

The ledger records real (live-mode) money only, so test keys are refused rather than shown live data.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.core.errors import PermissionDenied
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.ledger import service
from indiepay.ledger.schemas import BalanceList, BalanceOut, EntryList, EntryOut, PostingOut
from indiepay.merchants.auth import Principal

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


def _scope(caller: Principal) -> str | None:
    """The merchant whose ledger the caller may read (None: the admin reads everything)."""
    if caller.is_admin:
        return None
    if not caller.livemode:
        raise PermissionDenied("the ledger holds live money only: use a live key", code="livemode_required")
    return caller.require_merchant()


@router.get("/balances", response_model=BalanceList)
def list_balances(ctx: Ctx, caller: Caller, currency: str | None = None) -> BalanceList:
    merchant_id = _scope(caller)
    with ctx.db.read() as session:
        rows = service.balances(session, merchant_id, currency=currency)
    return BalanceList(data=[BalanceOut(account=b.code, kind=b.kind, merchant_id=b.merchant_id, channel=b.channel,
                                        currency=b.currency, balance=b.balance, natural=b.natural) for b in rows])


@router.get("/entries", response_model=EntryList)
def list_entries(ctx: Ctx, caller: Caller, event_type: str | None = None,
                 before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
                 limit: Annotated[int, Query(ge=1, le=200)] = 50) -> EntryList:
    merchant_id = _scope(caller)
    with ctx.db.read() as session:
        page = service.entries(session, merchant_id=merchant_id, event_type=event_type, before=before, limit=limit)
    return EntryList(
        data=[EntryOut(id=e.id, sequence=e.sequence, event_key=e.event_key, event_type=e.event_type,
                       merchant_id=e.merchant_id, description=e.description, occurred_at=e.occurred_at,
                       reverses_entry_id=e.reverses_entry_id,
                       postings=[PostingOut(account=code, amount=amount) for code, amount in e.postings])
              for e in page.entries],
        has_more=page.next_cursor is not None, next_cursor=page.next_cursor)
