"""What the payment core records in the ledger, in the same transaction as the state change.

Every succeeded live-mode payment and refund is posted once (test-mode sandbox money is not money and
stays out of the platform's books), keyed by the business event
(``payment_succeeded:<payment id>``, ``refund_succeeded:<refund id>``), so replayed callbacks and racing
queries post nothing more. Independent-collection money is recorded on the merchant's memo accounts (the
platform never holds it); platform collection books clearing, payable and fee revenue.

Fees use the rates fixed on the payment when it was created (the channel account's rate, and the
merchant's platform service fee or technology fee for its mode), so changing a rate never changes the
fee of a payment already made. Until the channel's bill says otherwise (reconciliation) the channel fee
is that rate; refunds return the fee share with the cumulative rounding rule of
:func:`indiepay.ledger.fees.refund_fee`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.ledger import fees, postings
from indiepay.ledger.service import post

Mode = Literal["independent", "platform"]


def _mode(value: str) -> Mode:
    return "platform" if value == "platform" else "independent"


def schedule_for(channel_fee_bps: int, platform_fee_bps: int) -> fees.FeeSchedule:
    """The fee schedule fixed on a payment (``platform_fee_bps`` is the technology fee in independent mode)."""
    return fees.FeeSchedule(channel_rate=fees.bps(channel_fee_bps), platform_rate=fees.bps(platform_fee_bps))


def record_payment(session: Session, clock: Clock, *, payment_id: str, mode: str, channel: str, merchant_id: str,
                   amount: int, currency: str, occurred_at: datetime, schedule: fees.FeeSchedule) -> None:
    """Post a succeeded payment (idempotent by payment id)."""
    plan = postings.payment_succeeded(
        mode=_mode(mode), channel=channel, merchant_id=merchant_id, amount=amount,
        channel_fee=schedule.channel_fee(amount), platform_fee=schedule.platform_fee(amount), currency=currency,
        description=f"payment {payment_id}")
    post(session, clock, event_key=f"payment_succeeded:{payment_id}", plan=plan, occurred_at=occurred_at)


def record_refund(session: Session, clock: Clock, *, refund_id: str, payment_id: str, mode: str, channel: str,
                  merchant_id: str, payment_amount: int, refunded_before: int, amount: int, currency: str,
                  occurred_at: datetime, schedule: fees.FeeSchedule) -> None:
    """Post a succeeded refund, returning the proportional fee shares (idempotent by refund id).

    ``refunded_before`` is what earlier succeeded refunds of the payment already returned; the caller holds
    the payment row locked so that concurrent refunds see each other.
    """
    channel_fee = schedule.channel_fee(payment_amount)
    platform_fee = schedule.platform_fee(payment_amount)
    plan = postings.refund_succeeded(
        mode=_mode(mode), channel=channel, merchant_id=merchant_id, amount=amount,
        channel_fee_returned=fees.refund_fee(amount=payment_amount, fee=channel_fee,
                                             refunded_before=refunded_before, refund=amount),
        platform_fee_returned=fees.refund_fee(amount=payment_amount, fee=platform_fee,
                                              refunded_before=refunded_before, refund=amount),
        currency=currency, description=f"refund {refund_id} of {payment_id}")
    post(session, clock, event_key=f"refund_succeeded:{refund_id}", plan=plan, occurred_at=occurred_at)


def record_share(session: Session, clock: Clock, *, line_id: str, merchant_id: str, channel: str, amount: int,
                 currency: str, occurred_at: datetime) -> None:
    """Post a share the channel carried out (idempotent by sharing line)."""
    plan = postings.share_sent(merchant_id=merchant_id, channel=channel, amount=amount, currency=currency,
                               description=f"share {line_id}")
    post(session, clock, event_key=f"share_sent:{line_id}", plan=plan, occurred_at=occurred_at)


def record_share_return(session: Session, clock: Clock, *, return_id: str, merchant_id: str, channel: str,
                        amount: int, currency: str, occurred_at: datetime) -> None:
    """Post a share that came back (idempotent by return)."""
    plan = postings.share_returned(merchant_id=merchant_id, channel=channel, amount=amount, currency=currency,
                                   description=f"share return {return_id}")
    post(session, clock, event_key=f"share_returned:{return_id}", plan=plan, occurred_at=occurred_at)
