"""Queries of refunds."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from indiepay.db.hints import not_for_lookup
from indiepay.db.pagination import newest_first
from indiepay.refunds.models import Refund


def get_scoped(session: Session, merchant_id: str, livemode: bool, refund_id: str) -> Refund | None:
    """The refund if it is this merchant's, in this mode; else None (another merchant's refund is not found)."""
    refund = session.get(Refund, refund_id)
    if refund is None or refund.merchant_id != merchant_id or refund.livemode != livemode:
        return None
    return refund


def list_page(session: Session, merchant_id: str, livemode: bool, *, payment_id: str | None, status: str | None,
              out_refund_no: str | None, limit: int, starting_after: Refund | None,
              window: tuple[Any, ...] = ()) -> list[Refund]:
    """Newest first, keyset-paginated on (created_at, id) over ``ix_refunds_merchant_created`` — or, for one
    payment's refunds, found by ``ix_refunds_payment_id`` and sorted (a handful), not by scanning the
    merchant's refunds for that payment's (SQLite would, ordered by the merchant index; see
    :mod:`indiepay.db.hints`)."""
    merchant: Any = not_for_lookup(Refund.__table__.c.merchant_id) if payment_id else Refund.merchant_id
    return newest_first(session, Refund, limit=limit, starting_after=starting_after,
                        where=(merchant == merchant_id, Refund.livemode == livemode, *window),
                        equal={Refund.payment_id: payment_id or None, Refund.status: status or None,
                               Refund.out_refund_no: out_refund_no or None})
