"""The rows routing reads: an owner's accounts of one channel and environment, and what the capped ones have
taken today (payments that may still take, or took, money — the same count as the daily limits)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.payments.models import Payment
from indiepay.risk.repository import COUNTED


def accounts_of(session: Session, merchant_id: str | None, channel: str, environment: str) -> list[ChannelAccount]:
    """Every account of the merchant (``None``: the platform's own) for the channel and environment."""
    owner = (ChannelAccount.merchant_id == merchant_id if merchant_id is not None
             else ChannelAccount.owner == "platform")
    return list(session.scalars(select(ChannelAccount).where(
        owner, ChannelAccount.channel == channel, ChannelAccount.environment == environment)))


def used_today(session: Session, account_ids: Sequence[str], since: datetime) -> dict[str, int]:
    """Amounts counted today on each account, across every merchant (a platform account is shared)."""
    if not account_ids:
        return {}
    rows = session.execute(
        select(Payment.channel_account_id, func.sum(Payment.amount))
        .where(Payment.channel_account_id.in_(account_ids), Payment.created_at >= since,
               Payment.status.in_(COUNTED))
        .group_by(Payment.channel_account_id))
    return {account_id: int(amount or 0) for account_id, amount in rows}
