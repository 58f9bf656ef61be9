"""Risk records read back (decisions, newest first) and what counts as collected today (``COUNTED``)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from indiepay.db.pagination import newest_first
from indiepay.risk.models import RiskDecision

COUNTED = ("pending", "succeeded")  # payments that may still take, or took, money


def decisions_page(session: Session, *, merchant_id: str | None, livemode: bool | None, object_id: str | None,
                   outcome: str | None, limit: int, starting_after: RiskDecision | None) -> list[RiskDecision]:
    """Up to ``limit + 1`` decisions, newest first (the extra one tells whether there are more)."""
    return newest_first(session, RiskDecision, limit=limit, starting_after=starting_after, equal={
        RiskDecision.merchant_id: merchant_id, RiskDecision.livemode: livemode, RiskDecision.object_id: object_id,
        RiskDecision.outcome: outcome})
