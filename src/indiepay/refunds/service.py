"""Requesting refunds and settling their outcome.

The refundable amount is reserved with one conditional update on the payment row, so twenty concurrent
60 % refunds admit exactly one. The refund and its ``out_refund_no`` are committed *before* the channel is
called, together with a sync job; every retry re-sends the same ``out_refund_no`` so the channel
deduplicates it, and a crash at any point is picked up by that job.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.audit import service as audit
from indiepay.channels.base import ChannelRefund, RefundRequest, RefundState
from indiepay.channels.registry import channel_spec, check_order_no
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, NotFound
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.pagination import created_window, list_filter, page_cursor
from indiepay.ledger.recording import record_refund, schedule_for
from indiepay.merchants.auth import Principal
from indiepay.payments import repository as payments_repository
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.payments.order_numbers import channel_out_refund_no
from indiepay.payments.state import ACCOUNT_VERIFICATION, VERIFICATION_JOB
from indiepay.refunds import repository, rules
from indiepay.refunds.models import Refund
from indiepay.refunds.schemas import RefundCreate, RefundList, RefundOut
from indiepay.risk import screening as risk_screening
from indiepay.webhooks.service import emit_event

SYNC_JOB = "refund.sync"
FIRST_SYNC_DELAY = timedelta(seconds=20)
# a refund the merchant carries out by hand (bank transfer) and has not confirmed: reminded every 3 days
REMINDER_JOB = "refund.manual_reminder"
REMINDER_AFTER = timedelta(days=3)


def to_out(refund: Refund) -> RefundOut:
    return RefundOut(id=refund.id, livemode=refund.livemode, payment_id=refund.payment_id, amount=refund.amount,
                     currency=refund.currency, status=refund.status, out_refund_no=refund.out_refund_no,
                     reason=refund.reason, channel_refund_no=refund.channel_refund_no,
                     failure_code=refund.failure_code, created_at=refund.created_at,
                     succeeded_at=refund.succeeded_at)


def _reserve(ctx: ServiceContext, principal: Principal, body: RefundCreate) -> str:
    merchant_id = principal.require_merchant()
    now = ctx.clock.now()
    out_refund_no = body.out_refund_no or "rf" + secrets.token_hex(15)
    try:  # a risk block rolls the transaction back, then keep_blocked records the decision
        with risk_screening.keep_blocked(ctx), ctx.db.transaction() as session:
            payment = payments_repository.get_scoped(session, merchant_id, principal.livemode, body.payment_id)
            if payment is None:
                raise NotFound("no such payment", code="payment_not_found")
            check_order_no(payment.channel, "out_refund_no", out_refund_no)
            decision = rules.decide(payment_status=payment.status, amount=payment.amount,
                                    reserved=payment.refund_reserved, requested=body.amount,
                                    shared=payment.shared_reserved)
            if decision.allowed:
                result = session.execute(
                    update(Payment)
                    .where(Payment.id == payment.id, Payment.status == "succeeded",
                           Payment.refund_reserved + Payment.shared_reserved + body.amount <= Payment.amount)
                    .values(refund_reserved=Payment.refund_reserved + body.amount, updated_at=now)
                    .execution_options(synchronize_session=False))
                if getattr(result, "rowcount", 0) != 1:
                    session.refresh(payment)
                    decision = rules.decide(payment_status=payment.status, amount=payment.amount,
                                            reserved=payment.refund_reserved, requested=body.amount,
                                            shared=payment.shared_reserved)
                    if decision.allowed:  # pragma: no cover - the update and the rule agree
                        decision = rules.RefundDecision(False, decision.refundable, "refund_exceeds_refundable")
            if not decision.allowed:
                raise Conflict(f"cannot refund {body.amount} fen: {decision.code}", code=decision.code or "conflict",
                               details={"refundable": decision.refundable, "status": payment.status})
            refund_id = new_id("re")
            risk_screening.screen_refund(session, ctx, payment, refund_id=refund_id, amount=body.amount,
                                         reference=out_refund_no, now=now)
            refund = Refund(id=refund_id, merchant_id=merchant_id, livemode=principal.livemode,
                            payment_id=payment.id, amount=body.amount, currency=payment.currency,
                            status="processing", out_refund_no=out_refund_no, reason=body.reason,
                            channel_out_refund_no=channel_out_refund_no(refund_id, payment.collection_mode,
                                                                        out_refund_no),
                            query_attempts=0, created_at=now, updated_at=now, succeeded_at=None)
            session.add(refund)
            session.flush()
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="refund.created",
                         target_type="refund", target_id=refund.id, merchant_id=merchant_id,
                         details={"payment_id": payment.id, "amount": body.amount, "livemode": principal.livemode})
            if channel_spec(payment.channel).refunds_by_hand:  # nothing to ask a bank: the merchant confirms
                enqueue(session, REMINDER_JOB, {"refund_id": refund.id}, now=now, run_at=now + REMINDER_AFTER,
                        unique_key=f"refund-reminder:{refund.id}")
            else:
                enqueue(session, SYNC_JOB, {"refund_id": refund.id}, now=now, run_at=now + FIRST_SYNC_DELAY,
                        unique_key=f"refund-sync:{refund.id}", first=True)
            return refund.id
    except IntegrityError as exc:
        raise Conflict(f"out_refund_no {out_refund_no!r} is already used", code="duplicate_out_refund_no",
                       details={"out_refund_no": out_refund_no}) from exc


def send_to_channel(ctx: ServiceContext, refund_id: str) -> None:
    """Send (or re-send) the refund request to the channel and apply a definite answer."""
    with ctx.db.read() as session:
        refund = session.get(Refund, refund_id)
        assert refund is not None
        found = payments_repository.with_account(session, refund.payment_id)
        assert found is not None
        payment, account = found
        if channel_spec(account.channel).refunds_by_hand:
            return  # the merchant sends the money and confirms it (indiepay.refunds.manual)
        request = RefundRequest(out_trade_no=payment.channel_out_trade_no, out_refund_no=refund.channel_out_refund_no,
                                refund_amount=refund.amount, total_amount=payment.amount,
                                currency=refund.currency, reason=refund.reason,
                                notify_url=ctx.notify_url(account.channel, account.id),
                                channel_trade_no=payment.channel_trade_no, opened_at=payment.created_at,
                                requested_at=refund.created_at)
    adapter = adapter_for(ctx, account)
    result = call_channel("refund", lambda: adapter.refund(request))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment.id, refund_id=refund_id)
        if result.value is not None:
            apply_answer(session, ctx, refund_id, result.value, source="refund")
        elif result.outcome == "rejected" and result.error is not None:
            failed = ChannelRefund(out_refund_no=request.out_refund_no, state=RefundState.FAILED,
                                   raw_state=result.error.channel_code or "REJECTED")
            apply_refund_state(session, ctx, refund_id, failed, failure_message=result.error.message)


def create_refund(ctx: ServiceContext, principal: Principal, body: RefundCreate) -> RefundOut:
    """Reserve, record and request a refund. Returns it ``processing`` or already ``succeeded``/``failed``.

    Raises NotFound (``payment_not_found``), Conflict (``payment_not_refundable``,
    ``refund_exceeds_refundable``, ``duplicate_out_refund_no``), Unprocessable (``risk_blocked``).
    """
    refund_id = _reserve(ctx, principal, body)
    send_to_channel(ctx, refund_id)
    ctx.wake_worker()
    with ctx.db.read() as session:
        refund = session.get(Refund, refund_id)
        assert refund is not None
        return to_out(refund)


def mismatch(refund: Refund, payment: Payment, seen: ChannelRefund) -> dict[str, Any] | None:
    """What differs between our refund and the channel's report of it, or None when they agree (a field the
    channel leaves out is not compared)."""
    diffs: dict[str, Any] = {}
    if seen.out_refund_no != refund.channel_out_refund_no:
        diffs["out_refund_no"] = {"ours": refund.channel_out_refund_no, "channel": seen.out_refund_no}
    if seen.out_trade_no is not None and seen.out_trade_no != payment.channel_out_trade_no:
        diffs["out_trade_no"] = {"ours": payment.channel_out_trade_no, "channel": seen.out_trade_no}
    if seen.amount is not None and seen.amount != refund.amount:
        diffs["amount"] = {"ours": refund.amount, "channel": seen.amount}
    return diffs or None


def apply_answer(session: Session, ctx: ServiceContext, refund_id: str, seen: ChannelRefund, *, source: str) -> bool:
    """Apply the channel's answer to a refund request or query — unless it describes another refund than ours:
    then nothing is applied (the refund stays ``processing``, asked again later) and a critical alert says
    so. True when the refund changed."""
    refund = session.get(Refund, refund_id)
    payment = session.get(Payment, refund.payment_id) if refund is not None else None
    if refund is None or payment is None:
        return False
    diffs = mismatch(refund, payment, seen)
    if diffs:
        raise_alert(session, ctx.clock, kind="channel_mismatch", severity="critical", merchant_id=refund.merchant_id,
                    dedupe_key=f"mismatch:{refund.id}:{source}", livemode=refund.livemode,
                    message=f"the channel reports different refund data for {refund.id}",
                    details={"refund_id": refund.id, "payment_id": payment.id, "differences": diffs})
        return False
    return apply_refund_state(session, ctx, refund_id, seen)


def _alert_abnormal(session: Session, ctx: ServiceContext, refund_id: str, seen: ChannelRefund) -> None:
    """An ABNORMAL refund stays ``processing`` — its amount reserved, since the money has left the account —
    and the merchant is told, once, to send it on at the channel; the SUCCESS that follows settles it."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.status != "processing":
        return
    raise_alert(session, ctx.clock, kind="refund_abnormal", severity="high", merchant_id=refund.merchant_id,
                livemode=refund.livemode, dedupe_key=f"refund_abnormal:{refund.id}",
                message=(f"refund {refund.id} of {refund.amount} fen left the account but the buyer's bank refused "
                         "it (a closed or frozen card): send it on by hand in the channel's merchant platform; "
                         "it stays processing until the channel reports it done"),
                details={"refund_id": refund.id, "payment_id": refund.payment_id, "amount": refund.amount,
                         "channel_state": seen.raw_state, "channel_refund_no": seen.channel_refund_no})


def apply_refund_state(session: Session, ctx: ServiceContext, refund_id: str, seen: ChannelRefund,
                       failure_message: str | None = None) -> bool:
    """Settle a processing refund from the channel's answer, exactly once; True when it changed.

    The payment's row is locked before the refund's: every path that settles a refund (the channel's
    answer, whose transaction has already logged the call and so holds the payment's key; the callback;
    polling; a merchant's confirmation) then takes the two in the same order. The callback once took the
    refund first and then waited for the payment while the answer held the payment and waited for the
    refund: a deadlock on PostgreSQL (SQLite serialises writers and never saw it)."""
    if seen.state is RefundState.ABNORMAL:
        _alert_abnormal(session, ctx, refund_id, seen)
        return False
    if seen.state not in (RefundState.SUCCEEDED, RefundState.FAILED):
        return False
    payment_id = session.scalar(select(Refund.payment_id).where(Refund.id == refund_id))
    if payment_id is None:
        return False
    session.execute(select(Payment.id).where(Payment.id == payment_id).with_for_update())
    now = ctx.clock.now()
    target = "succeeded" if seen.state is RefundState.SUCCEEDED else "failed"
    values: dict[str, Any] = {"status": target, "updated_at": now}
    if target == "succeeded":
        values.update(succeeded_at=seen.succeeded_at or now, channel_refund_no=seen.channel_refund_no)
    else:
        values.update(failure_code=seen.raw_state, failure_message=failure_message)
    result = session.execute(update(Refund).where(Refund.id == refund_id, Refund.status == "processing")
                             .values(**values).execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    refund = session.get(Refund, refund_id)
    assert refund is not None
    session.refresh(refund)
    if target == "succeeded":
        if refund.livemode:  # the ledger records real money only
            _record_in_ledger(session, ctx, refund, now)
        change = {"refunded_amount": Payment.refunded_amount + refund.amount}
        _advance_verification(session, refund.payment_id, now)
    else:
        change = {"refund_reserved": Payment.refund_reserved - refund.amount}
    session.execute(update(Payment).where(Payment.id == refund.payment_id).values(updated_at=now, **change)
                    .execution_options(synchronize_session=False))
    emit_event(session, ctx, merchant_id=refund.merchant_id, livemode=refund.livemode,
               type_=f"refund.{target}", data={"object": to_out(refund).model_dump(mode="json")},
               dedupe_key=f"refund.{target}:{refund.id}")
    return True


def _advance_verification(session: Session, payment_id: str, now: datetime) -> None:
    """The refund of an account's 0.01 test payment completes the account's verification (a job does it)."""
    purpose = session.scalar(select(Payment.purpose).where(Payment.id == payment_id))
    if purpose == ACCOUNT_VERIFICATION:
        enqueue(session, VERIFICATION_JOB, {"payment_id": payment_id}, now=now,
                unique_key=f"verification-refunded:{payment_id}")


def _record_in_ledger(session: Session, ctx: ServiceContext, refund: Refund, now: datetime) -> None:
    """Post the refund with the payment row locked, so concurrent refunds see each other's fee shares."""
    payment = session.get(Payment, refund.payment_id, with_for_update=True, populate_existing=True)
    assert payment is not None
    record_refund(session, ctx.clock, refund_id=refund.id, payment_id=payment.id, mode=payment.collection_mode,
                  channel=payment.channel, merchant_id=payment.merchant_id, payment_amount=payment.amount,
                  refunded_before=payment.refunded_amount, amount=refund.amount, currency=refund.currency,
                  occurred_at=refund.succeeded_at or now,
                  schedule=schedule_for(payment.channel_fee_bps, payment.platform_fee_bps))


def out_refund_no_for_claim(claim_id: str) -> str:
    """The ``out_refund_no`` of a refund asked for under an Idempotency-Key without one of its own: fixed by
    the key's claim (:func:`indiepay.idempotency.service.running_claim`), so that whatever happens to the first
    attempt — a crash before its answer was stored — a repeat finds that refund instead of opening a second
    one at the channel, while the key used again for a new refund after it expired opens a new one. The
    claim's id in it leads support from a refund to the request that asked for it."""
    return "rf" + claim_id.replace("_", "")  # letters and digits: every channel takes it (UnionPay only those)


def resume_refund(ctx: ServiceContext, principal: Principal, body: RefundCreate) -> RefundOut:
    """Finish a refund request whose run a crash interrupted (see :mod:`indiepay.idempotency`).

    ``body.out_refund_no`` is set (the client's, or :func:`out_refund_no_for_claim`). If the interrupted run
    reserved the refund, it is returned as it stands: its sync job, committed with it, sends it to the channel
    if the channel never got it, under the same number. Otherwise the refund is asked for now. Raises as
    :func:`create_refund` does; a refund with this number that is not this request's is
    ``duplicate_out_refund_no``.
    """
    assert body.out_refund_no is not None
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        existing = session.scalars(select(Refund).where(
            Refund.merchant_id == merchant_id, Refund.livemode == principal.livemode,
            Refund.out_refund_no == body.out_refund_no)).first()
        found = to_out(existing) if existing is not None else None
    if found is None:
        return create_refund(ctx, principal, body)
    if (found.payment_id, found.amount) != (body.payment_id, body.amount):
        raise Conflict(f"out_refund_no {body.out_refund_no!r} is already used", code="duplicate_out_refund_no",
                       details={"out_refund_no": body.out_refund_no})
    return found


def get_refund(session: Session, principal: Principal, refund_id: str) -> Refund:
    refund = repository.get_scoped(session, principal.require_merchant(), principal.livemode, refund_id)
    if refund is None:
        raise NotFound("no such refund", code="refund_not_found")
    return refund


def list_refunds(session: Session, principal: Principal, *, payment_id: str | None, status: str | None,
                 out_refund_no: str | None, limit: int, starting_after: str | None,
                 created_gte: datetime | None = None, created_lt: datetime | None = None) -> RefundList:
    """The merchant's refunds in the key's mode, newest first; ``payment_id`` lists one payment's refunds
    (a payment of another merchant simply has none here).

    Raises:
        InvalidRequest: ``invalid_status``; ``invalid_created_range``; ``invalid_cursor`` when
            ``starting_after`` names no refund of yours.
    """
    merchant_id = principal.require_merchant()
    window = created_window(Refund, created_gte, created_lt)
    list_filter("status", status, rules.STATUSES)
    cursor = page_cursor(starting_after, partial(repository.get_scoped, session, merchant_id, principal.livemode),
                         "refund")
    rows = repository.list_page(session, merchant_id, principal.livemode, payment_id=payment_id, status=status,
                                out_refund_no=out_refund_no, limit=limit, starting_after=cursor, window=window)
    return RefundList(data=[to_out(refund) for refund in rows[:limit]], has_more=len(rows) > limit)
