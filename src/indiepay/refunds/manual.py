"""Refunds carried out by hand: a payment taken by bank transfer is refunded by the merchant's own transfer
back (no bank can be asked to return money on the platform's behalf).

The refund is recorded as any other — the amount reserved on the payment at once, so it can never be
refunded twice — and stays ``processing`` until the merchant confirms the transfer back (``succeeded``: the
books and the webhook as for a channel refund) or cancels it (``failed``: the amount is refundable again).
Both go through the same exactly-once transition as a channel's answer. One still ``processing`` three days
on raises a ``manual_refund_pending`` alert (a buyer waiting for money the merchant has not sent, or sent
and not confirmed), again every three days until it is settled.
"""

from __future__ import annotations

from typing import Any

from indiepay.alerts.service import raise_alert
from indiepay.audit import service as audit
from indiepay.channels.base import ChannelRefund, RefundState
from indiepay.channels.registry import channel_spec
from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, InvalidRequest
from indiepay.db.jobs.worker import RetryLater
from indiepay.merchants.auth import Principal
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.refunds.schemas import ManualRefundConfirm, RefundOut
from indiepay.refunds.service import REMINDER_AFTER, apply_refund_state, get_refund, to_out

CANCELLED = "CANCELLED_BY_MERCHANT"


def _by_hand(ctx: ServiceContext, principal: Principal, refund_id: str) -> None:
    with ctx.db.read() as session:
        refund = get_refund(session, principal, refund_id)
        payment = session.get(Payment, refund.payment_id)
        assert payment is not None
        channel = payment.channel
    if not channel_spec(channel).refunds_by_hand:
        raise InvalidRequest(f"a {channel} refund is carried out by the channel, not confirmed by hand",
                             code="refund_not_manual", details={"channel": channel})


def confirm(ctx: ServiceContext, principal: Principal, refund_id: str, body: ManualRefundConfirm) -> RefundOut:
    """The money went back: the refund succeeds (once; the same confirmation again answers the same).

    Raises NotFound (``refund_not_found``), InvalidRequest (``refund_not_manual``), Conflict
    (``refund_not_processing``: cancelled, or confirmed with another transfer).
    """
    _by_hand(ctx, principal, refund_id)
    seen = ChannelRefund(out_refund_no="", state=RefundState.SUCCEEDED, raw_state="TRANSFERRED_BACK",
                         channel_refund_no=body.bank_txn_id, succeeded_at=body.booked_at)
    with ctx.db.transaction() as session:
        changed = apply_refund_state(session, ctx, refund_id, seen)
        refund = get_refund(session, principal, refund_id)
        if not changed and not (refund.status == "succeeded" and refund.channel_refund_no == body.bank_txn_id):
            raise Conflict(f"the refund is {refund.status}", code="refund_not_processing",
                           details={"status": refund.status})
        if changed:
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="refund.confirmed_by_hand",
                         target_type="refund", target_id=refund_id, merchant_id=refund.merchant_id,
                         details={"bank_txn_id": body.bank_txn_id, "amount": refund.amount})
        return to_out(refund)


def cancel(ctx: ServiceContext, principal: Principal, refund_id: str) -> RefundOut:
    """The money will not go back after all: the refund fails and its amount is refundable again.

    Raises as :func:`confirm` does (``refund_not_processing`` once it has succeeded).
    """
    _by_hand(ctx, principal, refund_id)
    seen = ChannelRefund(out_refund_no="", state=RefundState.FAILED, raw_state=CANCELLED)
    with ctx.db.transaction() as session:
        changed = apply_refund_state(session, ctx, refund_id, seen, failure_message="cancelled by the merchant")
        refund = get_refund(session, principal, refund_id)
        if not changed and not (refund.status == "failed" and refund.failure_code == CANCELLED):
            raise Conflict(f"the refund is {refund.status}", code="refund_not_processing",
                           details={"status": refund.status})
        if changed:
            audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="refund.cancelled_by_hand",
                         target_type="refund", target_id=refund_id, merchant_id=refund.merchant_id,
                         details={"amount": refund.amount})
        return to_out(refund)


def run_reminder_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job: a by-hand refund still ``processing`` → an alert, and the next reminder in three days."""
    now = ctx.clock.now()
    with ctx.db.transaction() as session:
        refund = session.get(Refund, str(args["refund_id"]))
        if refund is None or refund.status != "processing":
            return None
        if now - refund.created_at < REMINDER_AFTER:  # run early (a worker's catch-up): not yet
            return RetryLater(at=refund.created_at + REMINDER_AFTER, reason="the first reminder is not due")
        waited = (now - refund.created_at).days
        raise_alert(session, ctx.clock, kind="manual_refund_pending", severity="warning",
                    merchant_id=refund.merchant_id, livemode=refund.livemode,
                    dedupe_key=f"manual_refund_pending:{refund.id}:{waited}",
                    message=f"refund {refund.id} of {refund.amount} fen has waited {waited} days for the "
                            "merchant's transfer back: send it and confirm it, or cancel the refund",
                    details={"refund_id": refund.id, "payment_id": refund.payment_id, "amount": refund.amount,
                             "days": waited})
    return RetryLater(at=now + REMINDER_AFTER, reason="the refund is still waiting for the merchant")
