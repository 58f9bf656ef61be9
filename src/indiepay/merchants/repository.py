"""Locking a merchant's row at the start of every payment's write transaction, with a statement built
once (``session.get`` builds its load per call)."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from indiepay.merchants.models import Merchant

_LOCK = select(Merchant).where(Merchant.id == bindparam("id")).with_for_update()


def lock_merchant(session: Session, merchant_id: str) -> Merchant | None:
    """The merchant, its row locked until the transaction ends (``FOR UPDATE`` on PostgreSQL; on SQLite the
    transaction already holds the database's single writer lock)."""
    return session.scalars(_LOCK, {"id": merchant_id}).one_or_none()
