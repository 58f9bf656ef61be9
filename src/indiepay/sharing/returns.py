"""Taking a share back from a receiver (分账回退), e.g. before refunding the buyer of a returned item.

WeChat Pay takes shares back from *merchant* receivers only, and Alipay only inside a refund, so a return
is offered for WeChat merchant receivers. The amount is reserved on the line (returns never exceed the
share) and the return with its ``out_return_no`` is committed before the channel is called, with a sync
job. Once the channel says it succeeded, the money is the merchant's again: the payment's share
reservation shrinks by it, which makes it refundable.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.audit import service as audit
from indiepay.channels.sharing import ChannelReturn, ReceiverType, ReturnRequest, ReturnState
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, NotFound
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.ledger.recording import record_share_return
from indiepay.merchants.auth import Principal
from indiepay.payments.calls import call_channel, record_call
from indiepay.payments.models import Payment
from indiepay.sharing import repository, rules
from indiepay.sharing.models import SharingLine, SharingOrder, SharingReceiver, SharingReturn
from indiepay.sharing.schemas import SharingReturnCreate, SharingReturnList, SharingReturnOut
from indiepay.webhooks.service import emit_event

SYNC_JOB = "sharing.return_sync"
FIRST_SYNC_DELAY = timedelta(seconds=15)


def to_out(found: SharingReturn, receiver_id: str) -> SharingReturnOut:
    return SharingReturnOut(id=found.id, livemode=found.livemode, order_id=found.order_id, receiver_id=receiver_id,
                            out_return_no=found.out_return_no, amount=found.amount, status=found.status,
                            failure_code=found.failure_code, created_at=found.created_at,
                            finished_at=found.finished_at)


def out_return_no_for_claim(claim_id: str) -> str:
    return f"pr_{claim_id}"


def _reserve(ctx: ServiceContext, principal: Principal, body: SharingReturnCreate) -> str:
    merchant_id = principal.require_merchant()
    out_return_no = body.out_return_no or "pr" + secrets.token_hex(15)
    now = ctx.clock.now()
    try:
        with ctx.db.transaction() as session:
            order = repository.order_scoped(session, merchant_id, principal.livemode, body.order_id)
            if order is None:
                raise NotFound("no such sharing order", code="sharing_order_not_found")
            line = next((ln for ln, receiver in repository.lines_of(session, order.id)
                         if receiver.id == body.receiver_id), None)
            if line is None:
                raise NotFound("the receiver has no share in this order", code="receiver_not_found")
            receiver = session.get(SharingReceiver, line.receiver_id)
            assert receiver is not None
            if receiver.type != ReceiverType.WECHAT_MERCHANT.value:
                raise Conflict("only a WeChat Pay merchant receiver's share can be taken back on its own "
                               "(Alipay takes shares back within a refund)", code="return_not_supported")
            if line.result != rules.SUCCEEDED:
                raise Conflict("the share has not reached the receiver", code="share_not_succeeded",
                               details={"result": line.result})
            changed = session.execute(
                update(SharingLine).where(SharingLine.id == line.id,
                                          SharingLine.return_reserved + body.amount <= SharingLine.amount)
                .values(return_reserved=SharingLine.return_reserved + body.amount)
                .execution_options(synchronize_session=False))
            if getattr(changed, "rowcount", 0) != 1:
                session.refresh(line)
                raise Conflict(f"cannot take back {body.amount} fen", code="return_exceeds_share",
                               details={"returnable": line.amount - line.return_reserved})
            found = SharingReturn(id=new_id("psr"), merchant_id=merchant_id, livemode=principal.livemode,
                                  order_id=order.id, line_id=line.id, out_return_no=out_return_no, amount=body.amount,
                                  description=body.description, status=rules.PROCESSING, query_attempts=0,
                                  created_at=now, updated_at=now)
            session.add(found)
            session.flush()
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="sharing_return.created",
                         target_type="sharing_return", target_id=found.id, merchant_id=merchant_id,
                         details={"order_id": order.id, "amount": body.amount})
            enqueue(session, SYNC_JOB, {"return_id": found.id}, now=now, run_at=now + FIRST_SYNC_DELAY,
                    unique_key=f"sharing-return-sync:{found.id}", first=True)
            return found.id
    except IntegrityError as exc:
        raise Conflict(f"out_return_no {out_return_no!r} is already used", code="duplicate_out_return_no",
                       details={"out_return_no": out_return_no}) from exc


def send_to_channel(ctx: ServiceContext, return_id: str) -> None:
    with ctx.db.read() as session:
        found = session.get(SharingReturn, return_id)
        assert found is not None
        order = session.get(SharingOrder, found.order_id)
        line = session.get(SharingLine, found.line_id)
        assert order is not None and line is not None
        receiver = session.get(SharingReceiver, line.receiver_id)
        account = session.get(ChannelAccount, order.channel_account_id)
        assert receiver is not None and account is not None
        request = ReturnRequest(out_order_no=order.out_order_no, out_return_no=found.out_return_no,
                                receiver_account=receiver.account, amount=found.amount, description=found.description)
        payment_id = order.payment_id
    adapter = adapter_for(ctx, account)
    result = call_channel("sharing_return", lambda: adapter.return_share(request))
    ctx.health.record(account.id, result.outcome)
    with ctx.db.transaction() as session:
        record_call(session, ctx.clock, result, payment_id=payment_id)
        if result.value is not None:
            apply_return_state(session, ctx, return_id, result.value)
        elif result.outcome == "rejected" and result.error is not None:
            apply_return_state(session, ctx, return_id, ChannelReturn(
                out_return_no=request.out_return_no, state=ReturnState.FAILED,
                raw_state=result.error.channel_code or "REJECTED"))


def create_return(ctx: ServiceContext, principal: Principal, body: SharingReturnCreate) -> SharingReturnOut:
    """Reserve, record and send a return. Raises NotFound (``sharing_order_not_found``, ``receiver_not_found``),
    Conflict (``return_not_supported``, ``share_not_succeeded``, ``return_exceeds_share``,
    ``duplicate_out_return_no``)."""
    return_id = _reserve(ctx, principal, body)
    send_to_channel(ctx, return_id)
    ctx.wake_worker()
    with ctx.db.read() as session:
        found = session.get(SharingReturn, return_id)
        assert found is not None
        return to_out(found, body.receiver_id)


def apply_return_state(session: Session, ctx: ServiceContext, return_id: str, seen: ChannelReturn) -> bool:
    """Settle a processing return once: succeeded → the share shrinks and the money is refundable again;
    failed → the line's reservation is given back. True when it changed."""
    if seen.state not in (ReturnState.SUCCEEDED, ReturnState.FAILED):
        return False
    now = ctx.clock.now()
    target = "succeeded" if seen.state is ReturnState.SUCCEEDED else rules.FAILED
    values: dict[str, Any] = {"status": target, "updated_at": now, "finished_at": now,
                              "channel_return_id": seen.channel_return_id}
    if target == rules.FAILED:
        values["failure_code"] = (seen.fail_reason or seen.raw_state or "FAILED")[:64]
    changed = session.execute(update(SharingReturn).where(SharingReturn.id == return_id,
                                                          SharingReturn.status == rules.PROCESSING)
                              .values(**values).execution_options(synchronize_session=False))
    if getattr(changed, "rowcount", 0) != 1:
        return False
    found = session.get(SharingReturn, return_id, populate_existing=True)
    assert found is not None
    order = session.get(SharingOrder, found.order_id)
    line = session.get(SharingLine, found.line_id)
    assert order is not None and line is not None
    # in SQL, not on the loaded row: two returns of one line may settle at the same moment
    line_change = ({"returned_amount": SharingLine.returned_amount + found.amount} if target == "succeeded"
                   else {"return_reserved": SharingLine.return_reserved - found.amount})
    session.execute(update(SharingLine).where(SharingLine.id == line.id).values(**line_change)
                    .execution_options(synchronize_session=False))
    if target == "succeeded":
        session.execute(update(Payment).where(Payment.id == order.payment_id)
                        .values(shared_reserved=Payment.shared_reserved - found.amount, updated_at=now)
                        .execution_options(synchronize_session=False))
        if found.livemode:  # the books record real money only
            payment = session.get(Payment, order.payment_id)
            assert payment is not None
            record_share_return(session, ctx.clock, return_id=found.id, merchant_id=found.merchant_id,
                                channel=payment.channel, amount=found.amount, currency=payment.currency,
                                occurred_at=now)
    emit_event(session, ctx, merchant_id=found.merchant_id, livemode=found.livemode,
               type_=f"sharing_return.{target}",
               data={"object": to_out(found, line.receiver_id).model_dump(mode="json")},
               dedupe_key=f"sharing_return.{target}:{found.id}")
    return True


def get_return(session: Session, principal: Principal, return_id: str) -> SharingReturnOut:
    found = repository.return_scoped(session, principal.require_merchant(), principal.livemode, return_id)
    if found is None:
        raise NotFound("no such sharing return", code="sharing_return_not_found")
    line = session.get(SharingLine, found.line_id)
    assert line is not None
    return to_out(found, line.receiver_id)


def resume_return(ctx: ServiceContext, principal: Principal, body: SharingReturnCreate) -> SharingReturnOut:
    """Finish a request a crash interrupted: the return it reserved as it stands (its job sends it), or a new
    one. A return with this number that is not this request's is ``duplicate_out_return_no``."""
    assert body.out_return_no is not None
    with ctx.db.read() as session:
        existing = session.scalars(select(SharingReturn).where(
            SharingReturn.merchant_id == principal.require_merchant(), SharingReturn.livemode == principal.livemode,
            SharingReturn.out_return_no == body.out_return_no)).first()
        if existing is not None:
            if (existing.order_id, existing.amount) != (body.order_id, body.amount):
                raise Conflict(f"out_return_no {body.out_return_no!r} is already used",
                               code="duplicate_out_return_no", details={"out_return_no": body.out_return_no})
            line = session.get(SharingLine, existing.line_id)
            assert line is not None
            return to_out(existing, line.receiver_id)
    return create_return(ctx, principal, body)


def list_returns(session: Session, principal: Principal, order_id: str, *, limit: int) -> SharingReturnList:
    """One order's returns, newest first (an order of another merchant is not found)."""
    order = repository.order_scoped(session, principal.require_merchant(), principal.livemode, order_id)
    if order is None:
        raise NotFound("no such sharing order", code="sharing_order_not_found")
    rows = repository.returns_of(session, order.id, limit=limit)
    return SharingReturnList(data=[to_out(found, receiver_id) for found, receiver_id in rows[:limit]],
                             has_more=len(rows) > limit)
