"""The sync jobs: ask the channel about a processing sharing order or return until it gives a definite
answer. A channel that has never heard of it (the create call never arrived, or the process died before
calling) gets the same request again, under the same number. A job that has asked :data:`MAX_ATTEMPTS` times
(about two days) stops and raises a ``sharing_unresolved`` alert: the money it holds stays reserved — never
guessed shared or not — until somebody looks (the order's calls are in ``channel_calls``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.sharing import ReturnState, SharingState
from indiepay.context import ServiceContext
from indiepay.db.jobs.worker import RetryLater
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.sharing import returns, rules, service
from indiepay.sharing.models import SharingOrder, SharingReturn

SCHEDULE_SECONDS = (15, 30, 60, 120, 300, 600, 1800, 3600)
MAX_ATTEMPTS = 48


def _again(session: Session, ctx: ServiceContext, attempts: int, what: str, *, object_id: str, merchant_id: str,
           livemode: bool, payment_id: str) -> RetryLater | None:
    """When to ask again; after the last attempt, nothing but the alert (once per order or return)."""
    if attempts >= MAX_ATTEMPTS:
        raise_alert(session, ctx.clock, kind="sharing_unresolved", severity="high", merchant_id=merchant_id,
                    livemode=livemode, dedupe_key=f"sharing_unresolved:{object_id}",
                    message=f"the channel gave no definite answer about {what} {object_id} after {attempts} "
                            "queries; its money stays reserved",
                    details={"object_id": object_id, "payment_id": payment_id, "attempts": attempts})
        return None
    delay = SCHEDULE_SECONDS[min(attempts, len(SCHEDULE_SECONDS) - 1)]
    return RetryLater(at=ctx.clock.now() + timedelta(seconds=delay), reason=f"{what} still processing")


def run_order_sync(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    order_id = str(args["order_id"])
    with ctx.db.read() as session:
        order = session.get(SharingOrder, order_id)
        if order is None or order.status != rules.PROCESSING:
            return None
        payment = session.get(Payment, order.payment_id)
        account = session.get(ChannelAccount, order.channel_account_id)
        assert payment is not None and account is not None and payment.channel_trade_no is not None
        trade_no, out_order_no = payment.channel_trade_no, order.out_order_no
    adapter = adapter_for(ctx, account)
    result = call_channel("sharing_query", lambda: adapter.query_sharing(trade_no, out_order_no))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment.id)
        if result.value is not None:
            service.apply_channel_state(session, ctx, order_id, result.value)
    if result.value is not None and result.value.state is SharingState.NOT_FOUND:
        service.send_to_channel(ctx, order_id)
    with ctx.db.transaction() as session:
        order = session.get(SharingOrder, order_id)
        if order is None or order.status != rules.PROCESSING:
            return None
        order.query_attempts += 1
        return _again(session, ctx, order.query_attempts, "sharing order", object_id=order.id,
                      merchant_id=order.merchant_id, livemode=order.livemode, payment_id=order.payment_id)


def run_return_sync(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    return_id = str(args["return_id"])
    with ctx.db.read() as session:
        found = session.get(SharingReturn, return_id)
        if found is None or found.status != rules.PROCESSING:
            return None
        order = session.get(SharingOrder, found.order_id)
        assert order is not None
        account = session.get(ChannelAccount, order.channel_account_id)
        assert account is not None
        out_order_no, out_return_no, payment_id = order.out_order_no, found.out_return_no, order.payment_id
    adapter = adapter_for(ctx, account)
    result = call_channel("sharing_return_query", lambda: adapter.query_share_return(out_order_no, out_return_no))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
        if result.value is not None:
            returns.apply_return_state(session, ctx, return_id, result.value)
    if result.value is not None and result.value.state is ReturnState.NOT_FOUND:
        returns.send_to_channel(ctx, return_id)
    with ctx.db.transaction() as session:
        found = session.get(SharingReturn, return_id)
        if found is None or found.status != rules.PROCESSING:
            return None
        found.query_attempts += 1
        return _again(session, ctx, found.query_attempts, "sharing return", object_id=found.id,
                      merchant_id=found.merchant_id, livemode=found.livemode, payment_id=payment_id)
