"""E-receipts (电子收据): what a buyer keeps as proof of a payment, and a merchant can hand out or print.

A receipt exists once a payment has succeeded and stays valid for as long as the payment is kept (five
years at least): it is built from the records each time, never stored, so a later refund shows on it.
It names the merchant (legal name and brand), who collected the money (the merchant's own account, or the
platform on its behalf), the amount, the Beijing time it was paid, the merchant's order number and the
channel's transaction number — what a buyer quotes to the merchant or the channel — and each refund.
Nothing about the buyer: the buyer's page is public, reached by the unguessable payment id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.core.clock import BUSINESS_TZ, as_utc
from indiepay.core.errors import Conflict, NotFound
from indiepay.core.money import fen_to_yuan
from indiepay.merchants.models import Merchant
from indiepay.payments import state
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund

SHOWN_REFUNDS = ("processing", "succeeded")  # a failed refund moved no money: it is not on the receipt


@dataclass(frozen=True)
class ReceiptRefund:
    refund_id: str
    amount: int
    status: str
    at: datetime  # when it succeeded, or was asked for while processing


@dataclass(frozen=True)
class Receipt:
    payment_id: str
    livemode: bool
    merchant_name: str
    merchant_short_name: str
    collected_by: str  # "merchant" (its own channel account) | "platform" (on the merchant's behalf)
    description: str
    method: str
    channel: str
    currency: str
    amount: int
    refunded: int
    out_trade_no: str
    channel_trade_no: str | None
    paid_at: datetime
    refunds: tuple[ReceiptRefund, ...]

    @property
    def net(self) -> int:
        """What the buyer paid and keeps paid: the amount less the refunds that succeeded."""
        return self.amount - self.refunded

    def yuan(self, fen: int) -> str:
        return fen_to_yuan(fen)

    @staticmethod
    def local(moment: datetime) -> str:
        """A moment as a Beijing wall-clock time, to the second (what the channels' own receipts show)."""
        return as_utc(moment).astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def build_receipt(payment: Payment, merchant: Merchant, refunds: Sequence[Refund]) -> Receipt:
    """The receipt of a succeeded payment (pure: the caller has checked it may be shown)."""
    assert payment.status == state.SUCCEEDED and payment.paid_at is not None
    shown = sorted((r for r in refunds if r.status in SHOWN_REFUNDS), key=lambda r: (r.created_at, r.id))
    return Receipt(
        payment_id=payment.id, livemode=payment.livemode, merchant_name=merchant.name,
        merchant_short_name=merchant.short_name,
        collected_by="platform" if payment.collection_mode == "platform" else "merchant",
        description=payment.description, method=payment.method, channel=payment.channel, currency=payment.currency,
        amount=payment.amount, refunded=payment.refunded_amount, out_trade_no=payment.out_trade_no,
        channel_trade_no=payment.channel_trade_no, paid_at=payment.paid_at,
        refunds=tuple(ReceiptRefund(r.id, r.amount, r.status, r.succeeded_at or r.created_at) for r in shown))


def receipt_for(session: Session, payment_id: str, *, merchant_id: str | None = None,
                livemode: bool | None = None) -> Receipt:
    """The receipt of a payment; ``merchant_id`` and ``livemode`` scope it to a merchant's key.

    Raises:
        NotFound: ``payment_not_found`` (none, or not this merchant's in this mode).
        Conflict: ``payment_not_paid`` — no receipt before the payment succeeded (``details.status``).
    """
    payment = session.get(Payment, payment_id)
    if payment is None or (merchant_id is not None and (payment.merchant_id, payment.livemode) != (merchant_id,
                                                                                                  livemode)):
        raise NotFound("no such payment", code="payment_not_found")
    if payment.status != state.SUCCEEDED or payment.paid_at is None:
        raise Conflict(f"a {payment.status} payment has no receipt", code="payment_not_paid",
                       details={"status": payment.status})
    merchant = session.get(Merchant, payment.merchant_id)
    assert merchant is not None
    refunds = list(session.scalars(select(Refund).where(Refund.payment_id == payment.id)))
    return build_receipt(payment, merchant, refunds)
