"""Bringing our payment in line with the channel: callbacks, active queries, expiry and closing.

Every status change is a conditional update (``… WHERE status = :expected``), so any number of
concurrent callbacks and queries for one payment produce exactly one transition, one event and one
alert. Money that arrives for a closed or failed payment is never dropped: the payment becomes
``succeeded`` with ``late_payment`` set, and an alert asks a person to refund or accept it.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import ChannelPayment, TradeState
from indiepay.context import ServiceContext
from indiepay.db.jobs.queue import enqueue
from indiepay.db.jobs.worker import RetryLater
from indiepay.ledger.recording import record_payment, schedule_for
from indiepay.payments import repository, state
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.webhooks.service import emit_event

QUERY_JOB = "payment.query"
MAX_QUERY_ATTEMPTS = 40


def schedule_query(session: Session, ctx: ServiceContext, payment: Payment, *, first: bool = False) -> None:
    """Queue the active query of a pending payment (one queued query per payment at most)."""
    at = payment.next_query_at or ctx.clock.now()
    enqueue(session, QUERY_JOB, {"payment_id": payment.id}, now=ctx.clock.now(), run_at=at,
            unique_key=f"query:{payment.id}", first=first)


def mismatch(payment: Payment, seen: ChannelPayment) -> dict[str, Any] | None:
    """What differs between our payment and the channel's report, or None when they agree."""
    diffs: dict[str, Any] = {}
    if seen.out_trade_no != payment.channel_out_trade_no:  # the number the channel knows it by
        diffs["out_trade_no"] = {"ours": payment.channel_out_trade_no, "channel": seen.out_trade_no}
    if seen.amount is not None and seen.amount != payment.amount:
        diffs["amount"] = {"ours": payment.amount, "channel": seen.amount}
    if seen.currency is not None and seen.currency != payment.currency:
        diffs["currency"] = {"ours": payment.currency, "channel": seen.currency}
    return diffs or None


def apply_trade_state(session: Session, ctx: ServiceContext, payment_id: str, seen: ChannelPayment,
                      source: str) -> bool:
    """Apply the channel's view of a payment in the caller's transaction; True when it changed.

    The caller has checked that ``seen`` matches the payment (see :func:`mismatch`).
    """
    payment = session.get(Payment, payment_id)
    if payment is None:
        return False
    transition = state.transition_for(payment.status, seen.state)
    if transition is None:
        return False
    now = ctx.clock.now()
    values: dict[str, Any] = {"status": transition.to_status, "updated_at": now, "next_query_at": None}
    if transition.to_status == state.SUCCEEDED:
        values.update(paid_at=seen.paid_at or now, channel_trade_no=seen.channel_trade_no,
                      late_payment=transition.late)
    elif transition.to_status == state.CLOSED:
        values["closed_at"] = now
    if not repository.update_if_status(session, payment_id, transition.from_status, values):
        return False
    for name, value in values.items():  # what the row now holds; no second read needed
        set_committed_value(payment, name, value)
    if transition.to_status == state.SUCCEEDED and payment.livemode:  # the ledger records real money only
        record_payment(session, ctx.clock, payment_id=payment.id, mode=payment.collection_mode,
                       channel=payment.channel, merchant_id=payment.merchant_id, amount=payment.amount,
                       currency=payment.currency, occurred_at=payment.paid_at or now,
                       schedule=schedule_for(payment.channel_fee_bps, payment.platform_fee_bps))
    if transition.to_status == state.SUCCEEDED and payment.purpose == state.ACCOUNT_VERIFICATION:
        enqueue(session, state.VERIFICATION_JOB, {"payment_id": payment.id}, now=now,
                unique_key=f"verification-paid:{payment.id}")
    _announce(session, ctx, payment, transition, source)
    return True


def _announce(session: Session, ctx: ServiceContext, payment: Payment, transition: state.Transition,
              source: str) -> None:
    from indiepay.payments.service import to_out  # the response shape lives with the service

    data = {"object": to_out(ctx, payment).model_dump(mode="json")}
    event_type = {state.SUCCEEDED: "payment.succeeded", state.CLOSED: "payment.closed",
                  state.FAILED: "payment.failed"}[transition.to_status]
    emit_event(session, ctx, merchant_id=payment.merchant_id, livemode=payment.livemode, type_=event_type,
               data=data, dedupe_key=f"{event_type}:{payment.id}")
    if transition.late:
        raise_alert(session, ctx.clock, kind="late_payment", severity="high", merchant_id=payment.merchant_id,
                    message=(f"payment {payment.id} ({payment.out_trade_no}) was paid after it was "
                             f"{transition.from_status}: refund the buyer or accept the order"),
                    dedupe_key=f"late_payment:{payment.id}",
                    details={"payment_id": payment.id, "amount": payment.amount, "source": source},
                    livemode=payment.livemode)


def query_and_apply(ctx: ServiceContext, payment_id: str, source: str) -> Payment | None:
    """Ask the channel about a payment and apply the answer. Network I/O outside transactions."""
    with ctx.db.read() as session:
        found = repository.with_account(session, payment_id)
    if found is None:
        return None
    out_trade_no, opened_at, account = found[0].channel_out_trade_no, found[0].created_at, found[1]
    adapter = adapter_for(ctx, account)
    result = call_channel("query", lambda: adapter.query_payment(out_trade_no, opened_at=opened_at))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
        payment = session.get(Payment, payment_id)
        assert payment is not None
        if result.value is not None:
            diffs = mismatch(payment, result.value)
            if diffs:
                raise_alert(session, ctx.clock, kind="channel_mismatch", severity="critical",
                            merchant_id=payment.merchant_id, dedupe_key=f"mismatch:{payment.id}:{source}",
                            message=f"the channel reports different order data for {payment.id}",
                            details={"payment_id": payment.id, "differences": diffs}, livemode=payment.livemode)
            else:
                apply_trade_state(session, ctx, payment_id, result.value, source)
        session.refresh(payment)
        return payment


def run_query_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job: actively query a pending payment on a backoff schedule (lost callbacks, unknown outcomes)."""
    with ctx.db.read() as session:
        current = session.get(Payment, str(args["payment_id"]))
        if current is None or current.status != state.PENDING:
            return None  # the callback got here first: nothing to ask the channel
    payment = query_and_apply(ctx, str(args["payment_id"]), source="query")
    if payment is None or payment.status != state.PENDING:
        return None
    with ctx.db.transaction() as session:
        stored = session.get(Payment, payment.id)
        assert stored is not None
        stored.query_attempts += 1
        if stored.query_attempts >= MAX_QUERY_ATTEMPTS:
            return None
        delay = timedelta(seconds=state.next_query_delay(stored.query_attempts))
        stored.next_query_at = ctx.clock.now() + delay
        return RetryLater(at=stored.next_query_at, reason="still pending at the channel")


def close_at_channel(ctx: ServiceContext, payment_id: str, reason: str) -> bool:
    """Close the order at the channel first, then here. True when the payment is now closed.

    When the channel refuses (typically because the buyer just paid), the channel is queried and its
    answer applied, so a payment paid at the last second ends ``succeeded``, not ``closed``.
    """
    with ctx.db.read() as session:
        found = repository.with_account(session, payment_id)
    if found is None:
        return False
    if found[0].status != state.PENDING:
        return found[0].status == state.CLOSED
    out_trade_no, opened_at, account = found[0].channel_out_trade_no, found[0].created_at, found[1]
    adapter = adapter_for(ctx, account)
    result = call_channel("close", lambda: adapter.close_payment(out_trade_no, opened_at=opened_at))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
    if result.outcome == "ok":
        with ctx.db.transaction() as session:
            seen = ChannelPayment(out_trade_no=out_trade_no, state=TradeState.CLOSED, raw_state=reason)
            apply_trade_state(session, ctx, payment_id, seen, source=f"close:{reason}")
            stored = session.get(Payment, payment_id)
            return stored is not None and stored.status == state.CLOSED
    if result.outcome == "rejected":
        refreshed = query_and_apply(ctx, payment_id, source="close-refused")
        return refreshed is not None and refreshed.status == state.CLOSED
    return False


def run_expire_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job: close an unpaid payment at the channel once it has expired (retry until the channel agrees)."""
    payment_id = str(args["payment_id"])
    with ctx.db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status != state.PENDING:
            return None
        if payment.expires_at > ctx.clock.now():
            return RetryLater(at=payment.expires_at, reason="not expired yet")
    if close_at_channel(ctx, payment_id, reason="expired"):
        return None
    with ctx.db.read() as session:
        payment = session.get(Payment, payment_id)
        if payment is None or payment.status != state.PENDING:
            return None
    return RetryLater(at=ctx.clock.now() + timedelta(seconds=60), reason="channel did not close the order")
