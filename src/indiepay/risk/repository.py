"""What a merchant and a channel account have collected today (for the daily limits); risk decisions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.db.pagination import newest_first
from indiepay.payments.models import Payment
from indiepay.risk.models import RiskDecision

COUNTED = ("pending", "succeeded")  # payments that may still take, or took, money


def used_since(session: Session, *, merchant_id: str, livemode: bool, account_id: str, account_capped: bool,
               since: datetime) -> tuple[int, int]:
    """``(merchant's, account's)`` amounts of payments created since ``since`` that count against limits.

    The account's figure spans every merchant (a platform account is shared); it is only computed when
    the account has a cap of its own.
    """
    merchant_used = session.scalar(
        select(func.coalesce(func.sum(Payment.amount), 0))
        .where(Payment.merchant_id == merchant_id, Payment.livemode == livemode, Payment.created_at >= since,
               Payment.status.in_(COUNTED)))
    account_used = 0
    if account_capped:
        account_used = session.scalar(
            select(func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.channel_account_id == account_id, Payment.created_at >= since,
                   Payment.status.in_(COUNTED))) or 0
    return int(merchant_used or 0), int(account_used)


def decisions_page(session: Session, *, merchant_id: str | None, livemode: bool | None, object_id: str | None,
                   outcome: str | None, limit: int, starting_after: RiskDecision | None) -> list[RiskDecision]:
    """Up to ``limit + 1`` decisions, newest first (the extra one tells whether there are more)."""
    return newest_first(session, RiskDecision, limit=limit, starting_after=starting_after, equal={
        RiskDecision.merchant_id: merchant_id, RiskDecision.livemode: livemode, RiskDecision.object_id: object_id,
        RiskDecision.outcome: outcome})
