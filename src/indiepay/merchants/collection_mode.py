"""Switching a merchant between independent and platform collection, and the history of switches.

A switch applies to payments created after it: each payment fixed its mode, account and fee rates when
it was created, so payments in flight finish the way they started. Switching to independent collection
needs at least one active **production** channel account of the merchant's own that a real 0.01 test
payment went through (``verified_at``), otherwise the merchant's buyers would hit an account nobody has
proven works.

The mode is one setting per merchant, not one per test/live mode, and it decides where *live* money goes.
So only the merchant's live key and the operator may switch it; a test key (which sees sandbox accounts
and test data only, and is handed to developers) may read it but is refused with ``livemode_required`` —
otherwise a verified sandbox account would have been enough to send live payments to a merchant account
that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest, Unprocessable
from indiepay.core.ids import new_id
from indiepay.merchants.auth import Principal
from indiepay.merchants.models import CollectionModeChange, Merchant
from indiepay.merchants.service import get_merchant

MODES = ("independent", "platform")

# the readiness checklist (advisor) as [{"item", "done"}] for the details of a refused switch
Checklist = Callable[[Session, str, bool], Sequence[dict[str, Any]]]


class ModeSwitchNotReady(Unprocessable):
    code = "mode_switch_not_ready"


def has_verified_account(session: Session, merchant_id: str, environment: str) -> bool:
    query = (select(ChannelAccount.id)
             .where(ChannelAccount.merchant_id == merchant_id, ChannelAccount.environment == environment,
                    ChannelAccount.status == "active", ChannelAccount.verified_at.is_not(None)).limit(1))
    return session.scalar(query) is not None


def switch_mode(session: Session, clock: Clock, principal: Principal, merchant_id: str, mode: str,
                checklist: Checklist | None = None) -> tuple[Merchant, CollectionModeChange | None]:
    """Switch (or keep) the merchant's collection mode; returns the merchant and the recorded change.

    Asking for the mode the merchant already has changes and records nothing (a test key is refused all
    the same: it may not use the switch at all).

    Raises:
        NotFound: the caller may not see the merchant.
        PermissionDenied (``livemode_required``): a test key (see the module docstring).
        InvalidRequest (``invalid_mode``): ``mode`` is not independent or platform.
        ModeSwitchNotReady: switching to independent without a verified production account of the
            merchant's own; ``details.unmet`` lists the unmet readiness items.
    """
    get_merchant(session, principal, merchant_id)  # 404 unless admin or that merchant
    principal.require_livemode("How the merchant collects")
    if mode not in MODES:
        raise InvalidRequest(f"mode must be one of {', '.join(MODES)}", code="invalid_mode")
    merchant = session.get(Merchant, merchant_id, with_for_update=True, populate_existing=True)
    assert merchant is not None
    if merchant.collection_mode == mode:
        return merchant, None
    environment = "production"
    if mode == "independent" and not has_verified_account(session, merchant_id, environment):
        items = list(checklist(session, merchant_id, True)) if checklist else []
        unmet = [item["item"] for item in items if not item.get("done")]
        if "production_account_verified" not in unmet:
            unmet.insert(0, "production_account_verified")
        raise ModeSwitchNotReady(
            f"independent collection needs an active {environment} account of the merchant's own, "
            "verified by a 0.01 test payment", details={"unmet": unmet, "environment": environment})
    change = CollectionModeChange(id=new_id("cmc"), merchant_id=merchant_id, from_mode=merchant.collection_mode,
                                  to_mode=mode, actor=_actor(principal), created_at=clock.now())
    merchant.collection_mode = mode
    session.add(change)
    session.flush()
    return merchant, change


def history(session: Session, principal: Principal, merchant_id: str) -> list[CollectionModeChange]:
    """Every switch of the merchant's mode, oldest first."""
    get_merchant(session, principal, merchant_id)
    query = (select(CollectionModeChange).where(CollectionModeChange.merchant_id == merchant_id)
             .order_by(CollectionModeChange.created_at, CollectionModeChange.id))
    return list(session.scalars(query))


def _actor(principal: Principal) -> str:
    """Who switched: the operator or the merchant's live key (a test key may not switch)."""
    return "admin" if principal.is_admin else "merchant:live"
