"""Locking a merchant's row at the start of every payment's write transaction, with a statement built
once (``session.get`` builds its load per call).

On PostgreSQL the lock is ``FOR NO KEY UPDATE``: it serialises what must be serialised — two payments of one
merchant (admission reads and then adds to its daily volume), a payment and a suspension or a limit change
(both update the row) — but not a transaction that merely *references* the merchant. Inserting any row with
a foreign key to ``merchants`` (a callback's event, a webhook delivery, an alert, a ledger entry) takes
``FOR KEY SHARE`` on the merchant's row, which ``FOR UPDATE`` would conflict with: payments would queue
behind the callbacks, webhooks and postings of the same merchant, and those behind the payments."""

from __future__ import annotations

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from indiepay.db.pagination import newest_first
from indiepay.merchants.models import Merchant

_LOCK = select(Merchant).where(Merchant.id == bindparam("id")).with_for_update(key_share=True)  # NO KEY UPDATE


def lock_merchant(session: Session, merchant_id: str) -> Merchant | None:
    """The merchant, its row locked until the transaction ends (``FOR UPDATE`` on PostgreSQL; on SQLite the
    transaction already holds the database's single writer lock)."""
    return session.scalars(_LOCK, {"id": merchant_id}).one_or_none()


def list_page(session: Session, *, status: str | None, kyc_status: str | None, collection_mode: str | None,
              limit: int, starting_after: Merchant | None) -> list[Merchant]:
    """Every merchant, newest first, keyset-paginated on (created_at, id) over ``ix_merchants_created``."""
    return newest_first(session, Merchant, limit=limit, starting_after=starting_after,
                        equal={Merchant.status: status, Merchant.kyc_status: kyc_status,
                               Merchant.collection_mode: collection_mode})
