"""Sharing a paid payment with its receivers, and settling what the channel says of it.

The money is reserved on the payment row with one conditional update (shares and refunds together never
exceed what was paid), and the order, its lines and its ``out_order_no`` are committed *before* the
channel is called, together with a sync job: every retry re-sends the same number, so the channel carries
it out once, and a crash at any point is picked up by the job. A refusal fails the order and gives the
reservation back; a line the channel closes gives its share back; a finished order ends in a webhook.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.audit import service as audit
from indiepay.channels.sharing import ChannelSharing, SharingRequest, SharingState, SharingTransfer
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.pagination import list_filter, page_cursor
from indiepay.ledger.recording import record_share
from indiepay.merchants.auth import Principal
from indiepay.merchants.models import Merchant
from indiepay.payments import repository as payments_repository
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.sharing import repository, rules
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver
from indiepay.sharing.receivers import as_channel_receiver
from indiepay.sharing.schemas import ShareLineOut, SharingOrderCreate, SharingOrderList, SharingOrderOut
from indiepay.webhooks.service import emit_event

SYNC_JOB = "sharing.sync"
FIRST_SYNC_DELAY = timedelta(seconds=15)


def to_out(session: Session, order: SharingOrder) -> SharingOrderOut:
    lines = [ShareLineOut(receiver_id=line.receiver_id, account=receiver.account, amount=line.amount,
                          description=line.description, result=line.result, fail_reason=line.fail_reason,
                          returned_amount=line.returned_amount, finished_at=line.finished_at)
             for line, receiver in repository.lines_of(session, order.id)]
    return SharingOrderOut(id=order.id, livemode=order.livemode, payment_id=order.payment_id,
                           out_order_no=order.out_order_no, amount=order.amount, finish=order.finish,
                           status=order.status, unfrozen_amount=order.unfrozen_amount,
                           channel_order_id=order.channel_order_id, failure_code=order.failure_code,
                           receivers=lines, created_at=order.created_at, finished_at=order.finished_at)


def out_order_no_for_claim(claim_id: str) -> str:
    """The number of an order asked for under an Idempotency-Key without one of its own (as for refunds:
    the same for the request's retries and crash take-overs, a new one for the key used again later)."""
    return f"ps_{claim_id}"  # idem_<hex>: characters both channels take in a request number


def _receivers(session: Session, principal: Principal, payment: Payment,
               body: SharingOrderCreate) -> list[SharingReceiver]:
    found = []
    for line in body.receivers:
        receiver = repository.receiver_scoped(session, payment.merchant_id, principal.livemode, line.receiver_id)
        if receiver is None:
            raise NotFound("no such receiver", code="receiver_not_found", details={"receiver_id": line.receiver_id})
        if receiver.status != rules.ACTIVE:
            raise Conflict("the receiver was removed", code="receiver_removed", details={"receiver_id": receiver.id})
        if receiver.channel_account_id != payment.channel_account_id:
            raise Conflict("the receiver is declared to another channel account than the payment's",
                           code="receiver_not_on_account", details={"receiver_id": receiver.id})
        found.append(receiver)
    return found


def _reserve(ctx: ServiceContext, principal: Principal, body: SharingOrderCreate) -> str:
    merchant_id = principal.require_merchant()
    ids = [line.receiver_id for line in body.receivers]
    if len(set(ids)) != len(ids):
        raise InvalidRequest("a receiver appears twice in one order", code="duplicate_receiver")
    if not ids and not body.finish:
        raise InvalidRequest("nothing to do: give receivers, or finish", code="missing_field",
                             details={"field": "receivers"})
    requested = sum(line.amount for line in body.receivers)
    out_order_no = body.out_order_no or "ps" + secrets.token_hex(15)
    now = ctx.clock.now()
    try:
        with ctx.db.transaction() as session:
            payment = payments_repository.get_scoped(session, merchant_id, principal.livemode, body.payment_id)
            if payment is None:
                raise NotFound("no such payment", code="payment_not_found")
            receivers = _receivers(session, principal, payment, body)
            if receivers and session.scalar(select(Merchant.status).where(Merchant.id == merchant_id)) != "active":
                # the kill switch stops money leaving to third parties; unfreezing to the merchant goes on
                raise Unprocessable("the merchant is suspended: no shares to receivers", code="merchant_suspended")

            def decision() -> rules.ShareDecision:
                # a payment the channel has not numbered yet cannot be named in a sharing request
                return rules.decide(payment_status=payment.status if payment.channel_trade_no else "pending",
                                    opened_for_sharing=payment.profit_sharing, finished=payment.sharing_finished,
                                    amount=payment.amount, refund_reserved=payment.refund_reserved,
                                    shared_reserved=payment.shared_reserved, requested=requested, finish=body.finish)

            decided = decision()
            if decided.allowed:
                changed = session.execute(
                    update(Payment)
                    .where(Payment.id == payment.id, Payment.status == "succeeded", Payment.profit_sharing.is_(True),
                           Payment.sharing_finished.is_(False),
                           Payment.refund_reserved + Payment.shared_reserved + requested <= Payment.amount)
                    .values(shared_reserved=Payment.shared_reserved + requested,
                            sharing_finished=body.finish, updated_at=now)
                    .execution_options(synchronize_session=False))
                if getattr(changed, "rowcount", 0) != 1:
                    session.refresh(payment)
                    decided = decision()
                    if decided.allowed:  # pragma: no cover - the update and the rule agree
                        decided = rules.ShareDecision(False, decided.shareable, "share_exceeds_shareable")
            if not decided.allowed:
                raise Conflict(f"cannot share {requested} fen: {decided.code}", code=decided.code or "conflict",
                               details={"shareable": decided.shareable, "status": payment.status})
            order = SharingOrder(id=new_id("pso"), merchant_id=merchant_id, livemode=principal.livemode,
                                 payment_id=payment.id, channel_account_id=payment.channel_account_id,
                                 out_order_no=out_order_no, amount=requested, finish=body.finish,
                                 status=rules.PROCESSING, query_attempts=0, created_at=now, updated_at=now)
            session.add(order)
            session.flush()
            for position, (line, receiver) in enumerate(zip(body.receivers, receivers, strict=True)):
                session.add(SharingLine(id=new_id("psl"), order_id=order.id, receiver_id=receiver.id,
                                        position=position, amount=line.amount, description=line.description,
                                        result=rules.PENDING, returned_amount=0, return_reserved=0,
                                        created_at=now))
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="sharing_order.created",
                         target_type="sharing_order", target_id=order.id, merchant_id=merchant_id,
                         details={"payment_id": payment.id, "amount": requested, "finish": body.finish})
            enqueue(session, SYNC_JOB, {"order_id": order.id}, now=now, run_at=now + FIRST_SYNC_DELAY,
                    unique_key=f"sharing-sync:{order.id}", first=True)
            return order.id
    except IntegrityError as exc:
        raise Conflict(f"out_order_no {out_order_no!r} is already used", code="duplicate_out_order_no",
                       details={"out_order_no": out_order_no}) from exc


def _request(session: Session, order: SharingOrder, payment: Payment) -> SharingRequest:
    transfers = tuple(SharingTransfer(type=as_channel_receiver(receiver).type, account=receiver.account,
                                      amount=line.amount, description=line.description)
                      for line, receiver in repository.lines_of(session, order.id))
    assert payment.channel_trade_no is not None
    return SharingRequest(channel_trade_no=payment.channel_trade_no, out_order_no=order.out_order_no,
                          transfers=transfers, finish=order.finish)


def send_to_channel(ctx: ServiceContext, order_id: str) -> None:
    """Send (or re-send, same number) the order to the channel and apply a definite answer."""
    with ctx.db.read() as session:
        order = session.get(SharingOrder, order_id)
        assert order is not None
        payment = session.get(Payment, order.payment_id)
        account = session.get(ChannelAccount, order.channel_account_id)
        assert payment is not None and account is not None
        request = _request(session, order, payment)
    adapter = adapter_for(ctx, account)
    result = call_channel("sharing", lambda: adapter.share(request))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment.id)
        if result.value is not None:
            apply_channel_state(session, ctx, order_id, result.value)
        elif result.outcome == "rejected" and result.error is not None:
            fail_order(session, ctx, order_id, result.error.channel_code or "REJECTED", result.error.message)


def create_order(ctx: ServiceContext, principal: Principal, body: SharingOrderCreate) -> SharingOrderOut:
    """Reserve, record and send a sharing order; returns it ``processing``, or already ``finished``/``failed``.

    Raises NotFound (``payment_not_found``, ``receiver_not_found``), InvalidRequest (``duplicate_receiver``,
    ``missing_field``), Conflict (``payment_not_shareable``, ``payment_not_opened_for_sharing``,
    ``profit_sharing_finished``, ``share_exceeds_shareable``, ``receiver_removed``, ``receiver_not_on_account``,
    ``duplicate_out_order_no``), Unprocessable (``merchant_suspended``: shares to receivers stop while the
    operator's kill switch holds the merchant; unfreezing the rest to the merchant does not).
    """
    order_id = _reserve(ctx, principal, body)
    send_to_channel(ctx, order_id)
    ctx.wake_worker()
    with ctx.db.read() as session:
        order = session.get(SharingOrder, order_id)
        assert order is not None
        return to_out(session, order)


def resume_order(ctx: ServiceContext, principal: Principal, body: SharingOrderCreate) -> SharingOrderOut:
    """Finish a request a crash interrupted: the order it reserved as it stands (its job sends it), or a new
    one. An order with this number that is not this request's is ``duplicate_out_order_no``."""
    assert body.out_order_no is not None
    merchant_id = principal.require_merchant()
    with ctx.db.read() as session:
        existing = session.scalars(select(SharingOrder).where(
            SharingOrder.merchant_id == merchant_id, SharingOrder.livemode == principal.livemode,
            SharingOrder.out_order_no == body.out_order_no)).first()
        found = to_out(session, existing) if existing is not None else None
    if found is None:
        return create_order(ctx, principal, body)
    if found.payment_id != body.payment_id or found.amount != sum(line.amount for line in body.receivers):
        raise Conflict(f"out_order_no {body.out_order_no!r} is already used", code="duplicate_out_order_no",
                       details={"out_order_no": body.out_order_no})
    return found


def _release(session: Session, payment_id: str, amount: int, *, reopen: bool, now: Any) -> None:
    values: dict[str, Any] = {"shared_reserved": Payment.shared_reserved - amount, "updated_at": now}
    if reopen:
        values["sharing_finished"] = False
    session.execute(update(Payment).where(Payment.id == payment_id).values(**values)
                    .execution_options(synchronize_session=False))


def fail_order(session: Session, ctx: ServiceContext, order_id: str, code: str, message: str | None) -> bool:
    """The channel refused the order: nothing moved. Give the reservation back (and reopen sharing if the
    order was to finish it), close its lines, tell the merchant. Once; True when it changed."""
    now = ctx.clock.now()
    changed = session.execute(update(SharingOrder).where(SharingOrder.id == order_id,
                                                         SharingOrder.status == rules.PROCESSING)
                              .values(status=rules.FAILED, failure_code=code[:64], failure_message=message,
                                      updated_at=now, finished_at=now).execution_options(synchronize_session=False))
    if getattr(changed, "rowcount", 0) != 1:
        return False
    order = session.get(SharingOrder, order_id, populate_existing=True)
    assert order is not None
    pending = session.scalars(select(SharingLine).where(SharingLine.order_id == order_id,
                                                        SharingLine.result == rules.PENDING)).all()
    for line in pending:
        line.result, line.fail_reason, line.finished_at = rules.CLOSED, code[:64], now
    _release(session, order.payment_id, sum(line.amount for line in pending), reopen=order.finish, now=now)
    _emit(session, ctx, order, "failed")
    return True


def apply_channel_state(session: Session, ctx: ServiceContext, order_id: str, seen: ChannelSharing) -> bool:
    """Take the channel's view of an order: each line's definite result once (a closed share gives its
    money back to the payment), and the order finished when the channel says so and every line has its
    result. True when it finished.

    The order row is claimed first by a conditional update, so two appliers of the same order (the create
    request and its sync job) take turns on PostgreSQL instead of both releasing a closed line's money.
    """
    now = ctx.clock.now()
    if seen.state is SharingState.NOT_FOUND:
        return False
    claimed = session.execute(update(SharingOrder).where(SharingOrder.id == order_id,
                                                         SharingOrder.status == rules.PROCESSING)
                              .values(updated_at=now).execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        return False
    order = session.get(SharingOrder, order_id, populate_existing=True)
    assert order is not None
    outcomes = {t.account: t for t in seen.transfers if not t.unfreeze}
    released, open_lines = 0, 0
    for line, receiver in repository.lines_of(session, order_id):
        outcome = outcomes.get(receiver.account)
        result = rules.LINE_RESULTS[outcome.result] if outcome is not None else rules.PENDING
        if line.result != rules.PENDING or outcome is None or result == rules.PENDING:
            open_lines += line.result == rules.PENDING
            continue
        line.result, line.fail_reason, line.detail_id = result, outcome.fail_reason, outcome.detail_id
        line.finished_at = now
        released += line.amount if result == rules.CLOSED else 0
        if result == rules.SUCCEEDED and order.livemode:  # the books record real money only
            _record_share(session, ctx, order, line, now)
    if released:
        _release(session, order.payment_id, released, reopen=False, now=now)
    order.channel_order_id = seen.channel_order_id or order.channel_order_id
    if seen.state is not SharingState.FINISHED or open_lines:  # a line the answer does not settle: ask again
        return False
    order.status, order.finished_at = rules.FINISHED, now
    if order.finish:
        order.unfrozen_amount = seen.unfrozen_amount
    session.flush()
    _emit(session, ctx, order, "finished")
    return True


def _record_share(session: Session, ctx: ServiceContext, order: SharingOrder, line: SharingLine, now: Any) -> None:
    payment = session.get(Payment, order.payment_id)
    assert payment is not None
    record_share(session, ctx.clock, line_id=line.id, merchant_id=order.merchant_id, channel=payment.channel,
                 amount=line.amount, currency=payment.currency, occurred_at=now)


def _emit(session: Session, ctx: ServiceContext, order: SharingOrder, outcome: str) -> None:
    emit_event(session, ctx, merchant_id=order.merchant_id, livemode=order.livemode,
               type_=f"sharing_order.{outcome}", data={"object": to_out(session, order).model_dump(mode="json")},
               dedupe_key=f"sharing_order.{outcome}:{order.id}")


def get_order(session: Session, principal: Principal, order_id: str) -> SharingOrder:
    order = repository.order_scoped(session, principal.require_merchant(), principal.livemode, order_id)
    if order is None:
        raise NotFound("no such sharing order", code="sharing_order_not_found")
    return order


def list_orders(session: Session, principal: Principal, *, payment_id: str | None, status: str | None, limit: int,
                starting_after: str | None) -> SharingOrderList:
    merchant_id = principal.require_merchant()
    list_filter("status", status, rules.ORDER_STATUSES)
    cursor = page_cursor(starting_after, partial(repository.order_scoped, session, merchant_id, principal.livemode),
                         "sharing order")
    rows = repository.list_orders(session, merchant_id, principal.livemode, payment_id=payment_id, status=status,
                                  limit=limit, starting_after=cursor)
    return SharingOrderList(data=[to_out(session, o) for o in rows[:limit]], has_more=len(rows) > limit)
