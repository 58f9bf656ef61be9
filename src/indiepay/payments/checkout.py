"""What the hosted checkout page may show about a payment: the merchant's brand, the amount, the buyer
action and the status — nothing else (the page is public, reachable by the unguessable payment id)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.core.errors import NotFound
from indiepay.core.money import fen_to_yuan
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment


@dataclass(frozen=True)
class CheckoutView:
    payment_id: str
    merchant_short_name: str
    amount_fen: int
    amount_yuan: str
    currency: str
    description: str
    method: str
    channel: str
    status: str
    action: dict[str, Any] | None
    livemode: bool
    merchant_paused: bool


def checkout_view(session: Session, payment_id: str) -> CheckoutView:
    payment = session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("no such payment", code="payment_not_found")
    merchant = session.get(Merchant, payment.merchant_id)
    account = session.get(ChannelAccount, payment.channel_account_id)
    assert merchant is not None and account is not None
    return CheckoutView(payment_id=payment.id, merchant_short_name=merchant.short_name, amount_fen=payment.amount,
                        amount_yuan=fen_to_yuan(payment.amount), currency=payment.currency,
                        description=payment.description, method=payment.method, channel=payment.channel,
                        status=payment.status, action=payment.action, livemode=payment.livemode,
                        merchant_paused=merchant.status != "active" or account.status != "active")
