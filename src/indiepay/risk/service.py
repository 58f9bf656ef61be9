"""The kill switch, and reading the risk rules and decisions.

The kill switch: the operator suspends a merchant or one channel account at once, and resumes it.

From the moment the suspension commits, no new payment is created for a suspended merchant (payment
creation reads the merchant's status in its own transaction) nor routed to a suspended account (routing
only takes active accounts), and the hosted checkout says payments are paused; no new profit-sharing order
sends money to a receiver (unfreezing the rest to the merchant, and returns, still go). Refunds of existing
payments keep working — the buyers' money must still be returnable — and callbacks and queries of payments
in flight are still applied. Every change carries a reason and is kept in ``suspensions``.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.audit.service import actor_of, record
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest, NotFound, PermissionDenied
from indiepay.core.ids import new_id
from indiepay.db.pagination import page_cursor
from indiepay.merchants.auth import Principal
from indiepay.merchants.models import Merchant
from indiepay.risk import repository
from indiepay.risk.models import RiskDecision, Suspension
from indiepay.risk.rules import RuleSet
from indiepay.risk.schemas import DecisionList, DecisionOut, RuleOut, RuleSetOut

Target = Literal["merchant", "account"]
Action = Literal["suspend", "resume"]
STATUS_AFTER = {"suspend": "suspended", "resume": "active"}


def switch(session: Session, clock: Clock, principal: Principal, target: Target, target_id: str, action: Action,
           reason: str) -> tuple[str, Suspension | None]:
    """Suspend or resume ``target_id``; returns its status afterwards and the recorded change (None when
    it already was in that state — nothing is recorded twice).

    Raises:
        PermissionDenied (``admin_required``): only the operator holds the kill switch.
        InvalidRequest (``reason_required``): a change without a reason.
        NotFound: no such merchant or account.
    """
    if not principal.is_admin:
        if target != "account":
            raise PermissionDenied("only the operator can suspend or resume a merchant", code="admin_required")
        if not _owns_account(session, principal, target_id):
            raise NotFound("no such channel account", code="account_not_found")
    reason = reason.strip()
    if not reason:
        raise InvalidRequest("a suspension or resumption needs a reason", code="reason_required")
    row: Merchant | ChannelAccount | None = (session.get(Merchant, target_id, with_for_update=True)
                                             if target == "merchant"
                                             else session.get(ChannelAccount, target_id, with_for_update=True))
    if row is None:
        raise NotFound(f"no such {target}", code=f"{target}_not_found")
    wanted = STATUS_AFTER[action]
    if row.status == wanted:
        return wanted, None
    if action == "resume" and not principal.is_admin:
        last = history(session, target, target_id)
        if last and last[-1].actor == "admin":  # the operator's kill switch is the operator's to release
            raise PermissionDenied("the operator suspended this account; only the operator can resume it",
                                   code="admin_required")
    row.status = wanted
    change = Suspension(id=new_id("susp"), target_type=target, target_id=target_id, action=action, reason=reason,
                        actor="admin" if principal.is_admin else f"merchant:{principal.merchant_id}",
                        created_at=clock.now())
    session.add(change)
    session.flush()
    verb = "suspended" if action == "suspend" else "resumed"
    record(session, clock, actor=actor_of(principal), action=f"{target}.{verb}", target_type=target,
           target_id=target_id, merchant_id=target_id if isinstance(row, Merchant) else row.merchant_id,
           details={"reason": reason, "suspension_id": change.id})
    return wanted, change


def _owns_account(session: Session, principal: Principal, account_id: str) -> bool:
    """Whether a merchant's key may switch the account: its merchant's own, in the key's environment (a test
    key never reaches a production account, nor a live key a sandbox one) — the accounts it can read."""
    account = session.get(ChannelAccount, account_id)
    return (account is not None and account.merchant_id is not None and account.merchant_id == principal.merchant_id
            and (account.environment == "production") == principal.livemode)


def history(session: Session, target: Target, target_id: str) -> list[Suspension]:
    query = (select(Suspension).where(Suspension.target_type == target, Suspension.target_id == target_id)
             .order_by(Suspension.created_at, Suspension.id))
    return list(session.scalars(query))


def ruleset_out(ruleset: RuleSet, *, shadow_mode: bool) -> RuleSetOut:
    return RuleSetOut(version=ruleset.version, shadow_mode=shadow_mode, rules=[
        RuleOut(id=r.id, version=r.version, kind=r.kind, params=dict(r.params), outcome=r.outcome, shadow=r.shadow,
                applies_to=r.applies_to) for r in ruleset.rules])


def list_decisions(session: Session, principal: Principal, *, merchant_id: str | None, object_id: str | None,
                   outcome: str | None, limit: int, starting_after: str | None) -> DecisionList:
    """Risk decisions, newest first: the operator sees every merchant's (or one's, with ``merchant_id``), a
    merchant only its own in its key's mode.

    Raises:
        InvalidRequest (``invalid_outcome``, ``invalid_cursor``).
    """
    livemode: bool | None = None
    if not principal.is_admin:
        merchant_id, livemode = principal.require_merchant(), principal.livemode
    if outcome is not None and outcome not in ("allow", "review", "block"):
        raise InvalidRequest(f"unknown outcome {outcome!r}", code="invalid_outcome",
                             details={"allowed": ["allow", "review", "block"]})
    def visible(found: str) -> RiskDecision | None:
        row = session.get(RiskDecision, found)
        return row if row is not None and principal.can_see_merchant(row.merchant_id) else None

    cursor = page_cursor(starting_after, visible, "decision")
    rows = repository.decisions_page(session, merchant_id=merchant_id, livemode=livemode, object_id=object_id,
                                     outcome=outcome, limit=limit, starting_after=cursor)
    return DecisionList(data=[DecisionOut.model_validate(d, from_attributes=True) for d in rows[:limit]],
                        has_more=len(rows) > limit)
