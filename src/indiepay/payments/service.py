"""Creating, reading and closing payments.

Creating a payment commits twice on purpose: the payment (with its ``out_trade_no``) and its follow-up
jobs are committed *before* the channel is called, so a crash or timeout during the call leaves a
pending payment that the worker resolves by querying — never an order at the channel we know nothing
of. The channel call itself runs outside any transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.channels.base import ChannelMethod, PrepayRequest, PrepayResult
from indiepay.channels.registry import channel_spec, check_order_no
from indiepay.context import ServiceContext
from indiepay.core.errors import ChannelUnavailable, Conflict, InvalidRequest, NotFound, Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.pagination import created_window, list_filter, page_cursor
from indiepay.db.prepared import Prepared
from indiepay.merchants.auth import Principal
from indiepay.merchants.repository import lock_merchant
from indiepay.payments import admission, repository, state
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.payments.order_numbers import channel_out_trade_no
from indiepay.payments.schemas import PaymentCreate, PaymentList, PaymentOut
from indiepay.payments.sync import close_at_channel, schedule_query
from indiepay.risk import screening as risk_screening

EXPIRE_JOB = "payment.expire"


def to_out(ctx: ServiceContext, payment: Payment) -> PaymentOut:
    return PaymentOut(
        id=payment.id, livemode=payment.livemode, status=payment.status, amount=payment.amount,
        refunded_amount=payment.refunded_amount, currency=payment.currency, out_trade_no=payment.out_trade_no,
        description=payment.description, method=payment.method, channel=payment.channel,
        channel_account_id=payment.channel_account_id, channel_trade_no=payment.channel_trade_no,
        action=payment.action, checkout_url=ctx.checkout_url(payment.id), late_payment=payment.late_payment,
        failure_code=payment.failure_code, created_at=payment.created_at, expires_at=payment.expires_at,
        paid_at=payment.paid_at, closed_at=payment.closed_at, purpose=payment.purpose,
        profit_sharing=payment.profit_sharing, shared_amount=payment.shared_reserved)


def _validate_method_inputs(body: PaymentCreate) -> None:
    if body.method is ChannelMethod.WECHAT_JSAPI and not (body.payer and body.payer.openid):
        raise InvalidRequest("wechat_jsapi needs payer.openid", code="missing_field",
                             details={"field": "payer.openid"})
    if body.method is ChannelMethod.WECHAT_H5 and not (body.payer and body.payer.client_ip):
        raise InvalidRequest("wechat_h5 needs payer.client_ip", code="missing_field",
                             details={"field": "payer.client_ip"})
    check_order_no(body.method.channel, "out_trade_no", body.out_trade_no)
    maximum = channel_spec(body.method.channel).max_amount
    if body.amount > maximum:
        raise InvalidRequest(f"amount exceeds the channel maximum of {maximum} fen", code="amount_too_large",
                             details={"maximum": maximum})


def _action(result: PrepayResult) -> dict[str, Any]:
    if result.action_type == "qr_code":
        return {"type": "qr_code", "code_url": result.code_url}
    if result.action_type == "redirect":
        return {"type": "redirect", "url": result.url}
    if result.action_type == "form":
        return {"type": "form", "url": result.url, "fields": dict(result.form_fields or {})}
    if result.action_type == "bank_transfer":
        return {"type": "bank_transfer", **dict(result.transfer or {})}
    return {"type": "jsapi", "params": dict(result.jsapi_params or {})}


def prepay_request(ctx: ServiceContext, payment: Payment, account: ChannelAccount) -> PrepayRequest:
    """The order as the channel sees it; the same payment always yields the same request."""
    return PrepayRequest(
        method=ChannelMethod(payment.method), out_trade_no=payment.channel_out_trade_no, amount=payment.amount,
        currency=payment.currency, description=payment.description,
        notify_url=ctx.notify_url(account.channel, account.id), expires_at=payment.expires_at,
        payer_openid=payment.payer.get("openid"), client_ip=payment.payer.get("client_ip"),
        return_url=payment.return_url or ctx.checkout_url(payment.id) + "/return",
        profit_sharing=payment.profit_sharing, opened_at=payment.created_at)


def retry_prepay(ctx: ServiceContext, payment_id: str) -> None:
    """Ask the channel again for the buyer action of a pending payment whose prepay outcome was unknown.

    Safe because the request is identical (same out_trade_no and parameters): the channel answers with the
    order it already has, or opens it now. Called by the checkout when a buyer arrives at such a payment.
    """
    with ctx.db.read() as session:
        found = repository.with_account(session, payment_id)
    if found is None:
        return
    payment, account = found
    if payment.status != state.PENDING or payment.action is not None or payment.expires_at <= ctx.clock.now():
        return
    adapter = adapter_for(ctx, account)
    request = prepay_request(ctx, payment, account)
    result = call_channel("prepay", lambda: adapter.prepay(request))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
        if result.value is not None:
            repository.update_if_status(session, payment_id, state.PENDING,
                                        {"action": _action(result.value), "updated_at": ctx.clock.now()})


PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
# every column given: compiled once and run on the driver (on every payment's path; see indiepay.db.prepared)
_INSERT_PAYMENT = Prepared(insert(PAYMENTS), [column.key for column in PAYMENTS.columns])


def _insert_pending(ctx: ServiceContext, principal: Principal, body: PaymentCreate,
                    verify_account_id: str | None = None) -> tuple[Payment, ChannelAccount, PrepayRequest]:
    """Write the pending payment and its query and expiry jobs, before any channel call (so a crash
    after the call is picked up by the query job). Returns the payment as written (not in a session)."""
    merchant_id = principal.require_merchant()
    now = ctx.clock.now()
    expires_in = (body.expires_in_seconds or channel_spec(body.method.channel).default_expires_in_seconds
                  or ctx.settings.default_expires_in_seconds)
    payment_id, payer = new_id("pay"), body.payer.model_dump(exclude_none=True) if body.payer else {}
    try:  # a risk block rolls the transaction back, then keep_blocked records the decision
        with risk_screening.keep_blocked(ctx), ctx.db.transaction() as session:
            # locked: payments of one merchant are created one at a time, so its daily limit holds
            merchant = lock_merchant(session, merchant_id)
            if merchant is None or merchant.status != "active":
                raise Unprocessable("the merchant is suspended", code="merchant_suspended")
            admitted = admission.admit(session, ctx, merchant, livemode=principal.livemode, method=body.method.value,
                                       channel=body.method.channel, amount=body.amount, payer=payer,
                                       payment_id=payment_id, reference=body.out_trade_no, now=now,
                                       verify_account_id=verify_account_id)
            account, mode, platform_fee_bps = admitted.account, admitted.collection_mode, admitted.platform_fee_bps
            if body.profit_sharing and mode != "independent":
                raise Unprocessable("profit sharing goes through the merchant's own channel account: independent "
                                    "collection only", code="profit_sharing_unavailable",
                                    details={"collection_mode": mode})
            if body.profit_sharing and not channel_spec(account.channel).offers_profit_sharing:
                raise Unprocessable(f"{account.channel} orders cannot be opened for profit sharing",
                                    code="profit_sharing_unavailable", details={"channel": account.channel})
            payment = Payment(
                id=payment_id, merchant_id=merchant_id, livemode=principal.livemode,
                channel_account_id=account.id, channel=account.channel, method=body.method.value,
                amount=body.amount, currency=body.currency, out_trade_no=body.out_trade_no,
                channel_out_trade_no=channel_out_trade_no(payment_id, mode, body.out_trade_no),
                description=body.description, status=state.PENDING, collection_mode=mode,
                channel_fee_bps=account.fee_rate_bps, platform_fee_bps=platform_fee_bps,
                purpose=state.ACCOUNT_VERIFICATION if verify_account_id else None,
                refunded_amount=0, refund_reserved=0,
                profit_sharing=body.profit_sharing, shared_reserved=0, sharing_finished=False,
                payer=payer, action=None,
                return_url=body.return_url, late_payment=False, query_attempts=0,
                next_query_at=now + timedelta(seconds=state.next_query_delay(0)),
                expires_at=now + timedelta(seconds=expires_in), created_at=now, updated_at=now)
            # SQL Core rather than the unit of work: this insert is on every payment's path
            _INSERT_PAYMENT.execute(session, {c.key: getattr(payment, c.key) for c in PAYMENTS.columns})
            schedule_query(session, ctx, payment, first=True)
            enqueue(session, EXPIRE_JOB, {"payment_id": payment.id}, now=now, run_at=payment.expires_at,
                    unique_key=f"expire:{payment.id}", first=True)
            return payment, account, prepay_request(ctx, payment, account)
    except IntegrityError as exc:
        raise Conflict(f"out_trade_no {body.out_trade_no!r} is already used", code="duplicate_out_trade_no",
                       details={"out_trade_no": body.out_trade_no}) from exc


def create_payment(ctx: ServiceContext, principal: Principal, body: PaymentCreate,
                   verify_account_id: str | None = None) -> PaymentOut:
    """Create a payment and open the order at the channel.

    Returns the payment with the buyer action. Raises InvalidRequest / Conflict / Unprocessable for bad
    input (nothing written; a ``risk_blocked`` refusal writes only its risk decision); a channel rejection
    marks the payment ``failed`` and raises Unprocessable(``channel_rejected``); an unknown outcome keeps it
    ``pending`` and raises ChannelUnavailable(``channel_unavailable``) — the worker's queries resolve it.
    """
    _validate_method_inputs(body)
    payment, account, request = _insert_pending(ctx, principal, body, verify_account_id)
    payment_id = payment.id
    adapter = adapter_for(ctx, account)
    result = call_channel("prepay", lambda: adapter.prepay(request))
    ctx.health.record(account.id, result.outcome)
    now = ctx.clock.now()
    changes: dict[str, Any] = {}
    if result.value is not None:
        changes = {"action": _action(result.value), "updated_at": now}
    elif result.outcome == "rejected":
        changes = {"status": state.FAILED, "failure_code": result.error.channel_code if result.error else None,
                   "failure_message": result.error.message if result.error else None, "updated_at": now}
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
        applied = not changes or repository.update_if_status(session, payment_id, state.PENDING, changes)
        if applied:
            for name, value in changes.items():
                setattr(payment, name, value)
        else:  # something moved it on meanwhile (a query, a close): show what is stored
            stored = session.get(Payment, payment_id)
            assert stored is not None
            payment = stored
        out = to_out(ctx, payment)
    return _answer(payment, out)


def _answer(payment: Payment, out: PaymentOut) -> PaymentOut:
    """What a create answers, from the payment as it now stands: refused by the channel → 422, the channel's
    answer still unknown (no buyer action yet) → 502, otherwise the payment."""
    if payment.status == state.FAILED:
        raise Unprocessable(f"the channel rejected the order: {payment.failure_message}", code="channel_rejected",
                            details={"payment_id": payment.id, "channel_code": payment.failure_code})
    if payment.status == state.PENDING and payment.action is None:
        raise ChannelUnavailable("the channel did not answer; the payment stays pending and will be queried",
                                 code="channel_unavailable", details={"payment_id": payment.id})
    return out


def resume_create(ctx: ServiceContext, principal: Principal, body: PaymentCreate) -> PaymentOut:
    """Finish a create whose run a crash interrupted (its Idempotency-Key stayed claimed, nothing answered).

    That run wrote nothing — then the payment is created now — or it wrote the pending payment (found by its
    ``out_trade_no``) and perhaps opened the order at the channel: then the order is asked for again with
    the identical request, which the channel answers with the order it already has, and the payment is
    returned as a create would have returned it. Raises as :func:`create_payment` does; a payment with this
    ``out_trade_no`` that is not this request's is ``duplicate_out_trade_no``.
    """
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        existing = repository.get_by_out_trade_no(session, merchant_id, principal.livemode, body.out_trade_no)
        payer = body.payer.model_dump(exclude_none=True) if body.payer else {}
        same = existing is not None and (existing.amount, existing.currency, existing.method, existing.description,
                                         existing.payer, existing.return_url) == (
            body.amount, body.currency, body.method.value, body.description, payer, body.return_url)
    if existing is None:
        return create_payment(ctx, principal, body)
    if not same:
        raise Conflict(f"out_trade_no {body.out_trade_no!r} is already used", code="duplicate_out_trade_no",
                       details={"out_trade_no": body.out_trade_no})
    retry_prepay(ctx, existing.id)
    with ctx.db.read() as session:
        payment = session.get(Payment, existing.id)
        assert payment is not None
        out = to_out(ctx, payment)
    return _answer(payment, out)


def get_payment(session: Session, ctx: ServiceContext, principal: Principal, payment_id: str) -> Payment:
    merchant_id = principal.require_merchant()
    payment = repository.get_scoped(session, merchant_id, principal.livemode, payment_id)
    if payment is None:
        raise NotFound("no such payment", code="payment_not_found")
    return payment


def list_payments(session: Session, ctx: ServiceContext, principal: Principal, *, status: str | None,
                  out_trade_no: str | None, limit: int, starting_after: str | None,
                  created_gte: datetime | None = None, created_lt: datetime | None = None) -> PaymentList:
    """The merchant's payments in the key's mode, newest first, optionally created in ``[created_gte,
    created_lt)``. Raises InvalidRequest: ``invalid_status``, ``invalid_created_range``, ``invalid_cursor``."""
    merchant_id = principal.require_merchant()
    window = created_window(Payment, created_gte, created_lt)
    list_filter("status", status, state.STATUSES)
    cursor = page_cursor(starting_after, partial(repository.get_scoped, session, merchant_id, principal.livemode),
                         "payment")
    rows = repository.list_page(session, merchant_id, principal.livemode, status=status,
                                out_trade_no=out_trade_no, limit=limit, starting_after=cursor, window=window)
    return PaymentList(data=[to_out(ctx, p) for p in rows[:limit]], has_more=len(rows) > limit)


def close_payment(ctx: ServiceContext, principal: Principal, payment_id: str) -> PaymentOut:
    """Close a pending payment at the channel, then here. A payment the channel reports paid is recorded
    as succeeded and the close is refused with ``payment_already_paid``."""
    with ctx.db.read() as session:
        payment = get_payment(session, ctx, principal, payment_id)
        if payment.status == state.CLOSED:
            return to_out(ctx, payment)
        if payment.status != state.PENDING:
            raise Conflict(f"a {payment.status} payment cannot be closed", code="payment_not_closable",
                           details={"status": payment.status})
    closed = close_at_channel(ctx, payment_id, reason="merchant")
    with ctx.db.read() as session:
        payment = get_payment(session, ctx, principal, payment_id)
        out = to_out(ctx, payment)
    ctx.wake_worker()
    if not closed and payment.status == state.SUCCEEDED:
        raise Conflict("the buyer has already paid", code="payment_already_paid",
                       details={"payment_id": payment_id, "status": payment.status})
    if not closed:
        raise ChannelUnavailable("the channel could not close the order now; try again",
                                 code="channel_unavailable", details={"payment_id": payment_id})
    return out

