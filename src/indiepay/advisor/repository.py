"""Advisor queries: net volume over a window, channel rates, and the merchant's accounts for the checklist."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund


def net_volume(session: Session, merchant_id: str, *, livemode: bool, since: datetime, until: datetime,
               currency: str = "CNY") -> int:
    """Succeeded payments paid in ``(since, until]`` less succeeded refunds settled in the same window (fen).

    Sales only: the 0.01 payments that verify an account (``purpose`` set) and their refunds are not volume.
    """
    paid = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.merchant_id == merchant_id, Payment.livemode == livemode, Payment.status == "succeeded",
               Payment.purpose.is_(None), Payment.currency == currency, Payment.paid_at > since,
               Payment.paid_at <= until))
    refunded = session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0))
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.merchant_id == merchant_id, Refund.livemode == livemode, Refund.status == "succeeded",
               Payment.purpose.is_(None), Refund.currency == currency, Refund.succeeded_at > since,
               Refund.succeeded_at <= until))
    return int(paid or 0) - int(refunded or 0)


def own_accounts(session: Session, merchant_id: str, environment: str) -> Sequence[ChannelAccount]:
    """The merchant's own active accounts in ``environment``."""
    return session.scalars(
        select(ChannelAccount)
        .where(ChannelAccount.merchant_id == merchant_id, ChannelAccount.owner == "merchant",
               ChannelAccount.environment == environment, ChannelAccount.status == "active")
        .order_by(ChannelAccount.created_at, ChannelAccount.id)).all()


def platform_rate_bps(session: Session, environment: str) -> int | None:
    """The lowest rate among the platform's own active accounts in ``environment`` (None: it has none)."""
    rate = session.scalar(
        select(func.min(ChannelAccount.fee_rate_bps))
        .where(ChannelAccount.owner == "platform", ChannelAccount.merchant_id.is_(None),
               ChannelAccount.environment == environment, ChannelAccount.status == "active"))
    return None if rate is None else int(rate)
