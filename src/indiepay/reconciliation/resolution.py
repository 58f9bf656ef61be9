"""Resolving differences, and reading runs back (per run and per month).

A difference goes ``open → resolved | ignored`` once, with who, when and why. Resolving may act
(:func:`indiepay.reconciliation.rules.resolution_effects`): query the channel again, apply a late payment
through the payment state machine, or post one correction keyed ``reconciliation:<difference id>`` — so a
replayed or repeated resolution posts nothing more, and the ledger is corrected, never edited. Ignoring
never acts. Services flush; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy.orm import Session

from indiepay.channels.base import ChannelPayment, TradeState
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, InvalidRequest, NotFound
from indiepay.db.jobs.queue import enqueue
from indiepay.ledger import postings
from indiepay.ledger.service import post
from indiepay.merchants.auth import Principal
from indiepay.payments.models import Payment
from indiepay.payments.sync import QUERY_JOB, apply_trade_state, mismatch
from indiepay.reconciliation import repository
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.models import ReconciliationDifference, ReconciliationRun

ACTIONS = {"resolve": r.RESOLVED, "ignore": r.IGNORED}


def visible_accounts(session: Session, principal: Principal) -> list[str] | None:
    """The accounts whose runs and differences the caller may see: a merchant's of its key's environment;
    None (all) for the operator."""
    if principal.is_admin:
        return None
    return repository.accounts_of(session, merchant_id=principal.require_merchant(),
                                  environment="production" if principal.livemode else "sandbox")


def get_difference(session: Session, difference_id: str, visible: Sequence[str] | None) -> ReconciliationDifference:
    """A difference the caller may see (``visible`` None: every account).

    Raises:
        NotFound (``reconciliation_difference_not_found``): no such difference for this caller.
    """
    found = session.get(ReconciliationDifference, difference_id)
    if found is None or (visible is not None and found.account_id not in visible):
        raise NotFound(f"no reconciliation difference {difference_id}", code="reconciliation_difference_not_found")
    return found


def resolve(session: Session, ctx: ServiceContext, difference_id: str, *, action: str, note: str, actor: str,
            visible: Sequence[str] | None = None) -> ReconciliationDifference:
    """Resolve or ignore a difference, acting on it when resolving (see the module docstring).

    Returns:
        The difference; resolving it again with the same action returns it unchanged.

    Raises:
        InvalidRequest: unknown action or an empty note. NotFound: no such difference for the caller.
        Conflict (``difference_closed``): it was already closed the other way.
        Conflict (``bill_amount_differs``): a late payment whose bill amount is not ours (a person must look).
    """
    if action not in ACTIONS:
        raise InvalidRequest("action must be resolve or ignore", code="invalid_action",
                             details={"actions": sorted(ACTIONS)})
    if not note.strip():
        raise InvalidRequest("say why (note)", code="note_required")
    diff = _locked(session, get_difference(session, difference_id, visible))
    target = ACTIONS[action]
    if diff.status == target:
        return diff
    if diff.status != r.OPEN:
        raise Conflict(f"the difference is already {diff.status}", code="difference_closed")
    effects: dict[str, Any] = {}
    if target == r.RESOLVED:
        effects = _act(session, ctx, diff)
    now = ctx.clock.now()
    diff.status, diff.resolved_by, diff.resolved_at, diff.note, diff.updated_at = target, actor, now, note, now
    if effects:
        diff.details = {**diff.details, "resolution": effects}
    run = session.get(ReconciliationRun, diff.run_id)  # locked by _locked
    if run is not None:
        run.open_differences = max(run.open_differences - 1, 0)
        run.status = "differences" if run.open_differences else "balanced"
    session.flush()
    return diff


def _locked(session: Session, diff: ReconciliationDifference) -> ReconciliationDifference:
    """The difference read again under a row lock, its run's locked first (the order a re-run of the day
    takes them in): two people resolving and ignoring one difference at once, or several differences of one
    run, are then taken one after the other — each sees what the one before did, so a difference is closed
    once, acted on once, and the run's count of open differences loses exactly one for each. (SQLite takes
    its single write lock when the transaction starts, which serialises them already.)"""
    session.get(ReconciliationRun, diff.run_id, with_for_update=True, populate_existing=True)
    locked = session.get(ReconciliationDifference, diff.id, with_for_update=True, populate_existing=True)
    assert locked is not None  # differences are never deleted
    return locked


def _act(session: Session, ctx: ServiceContext, diff: ReconciliationDifference) -> dict[str, Any]:
    payment = session.get(Payment, diff.payment_id) if diff.payment_id else None
    if payment is None:
        return {}
    effects = r.resolution_effects(diff.klass, kind=diff.kind, local_status=diff.local_status,
                                   livemode=payment.livemode)
    done: dict[str, Any] = {}
    if r.QUERY in effects and payment.status == "pending":
        enqueue(session, QUERY_JOB, {"payment_id": payment.id}, now=ctx.clock.now(),
                unique_key=f"query:{payment.id}")
        done["query"] = payment.id
    if r.APPLY_LATE_PAYMENT in effects:
        seen = ChannelPayment(out_trade_no=payment.channel_out_trade_no, state=TradeState.SUCCEEDED,
                              raw_state=str(diff.details.get("bill_state", "SUCCESS")), amount=diff.channel_amount,
                              channel_trade_no=diff.details.get("transaction_id"),
                              paid_at=_bill_time(diff.details.get("bill_time")))
        if mismatch(payment, seen):
            raise Conflict("the bill's amount is not the payment's: resolve it by hand", code="bill_amount_differs")
        done["late_payment_applied"] = apply_trade_state(session, ctx, payment.id, seen, source="reconciliation")
    if r.CORRECT_AMOUNT in effects and diff.channel_amount is not None and diff.local_amount is not None:
        delta, event_key = r.correction_due(diff.id, local_amount=diff.local_amount,
                                            channel_amount=diff.channel_amount, details=diff.details or {})
        if delta:  # nothing left to correct when earlier corrections of this difference already did
            lines = r.amount_correction_lines(kind=diff.kind, mode=payment.collection_mode, channel=payment.channel,
                                              merchant_id=payment.merchant_id, currency=payment.currency,
                                              delta=delta)
            plan = postings.correction(lines=lines, merchant_id=payment.merchant_id, description=(
                f"reconciliation {diff.id}: {diff.kind} {diff.out_refund_no or ''}{diff.out_trade_no} is "
                f"{diff.channel_amount} fen per the bill, {diff.local_amount} fen here"))
            entry = post(session, ctx.clock, event_key=event_key, plan=plan)
            done["ledger_entry_id"] = entry.id
            details = diff.details or {}
            diff.details = {**details, r.CORRECTED: int(details.get(r.CORRECTED, 0)) + delta,
                            r.CORRECTIONS: int(details.get(r.CORRECTIONS, 0)) + 1}
    return done


def _bill_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


@dataclass
class MonthReport:
    """A month of runs over the accounts a caller may see (amounts in fen)."""

    month: str
    runs: int = 0
    bill_rows: int = 0
    matched_count: int = 0
    matched_amount: int = 0
    bill_amount: int = 0
    bill_fee: int = 0
    booked_fee: int = 0
    fee_corrections: int = 0
    differences: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> status -> count


def month_report(session: Session, month: str, visible: Sequence[str] | None) -> MonthReport:
    """Totals of the month's runs and the differences by class and status.

    Raises:
        InvalidRequest (``invalid_month``): ``month`` is not ``YYYY-MM``.
    """
    try:
        date.fromisoformat(f"{month}-01")
    except ValueError as exc:
        raise InvalidRequest("month must be YYYY-MM", code="invalid_month") from exc
    report = MonthReport(month=month)
    runs = repository.runs(session, account_ids=visible, month=month, limit=100_000)
    for run in runs:
        report.runs += 1
        report.bill_rows += run.bill_rows
        report.matched_count += run.matched_count
        report.matched_amount += run.matched_amount
        report.bill_amount += run.bill_amount
        report.bill_fee += run.bill_fee
        report.booked_fee += run.booked_fee
        report.fee_corrections += run.fee_corrections
    for klass, status, count, _amount in repository.difference_counts(session, [run.id for run in runs]):
        report.differences.setdefault(klass, {})[status] = count
    return report
