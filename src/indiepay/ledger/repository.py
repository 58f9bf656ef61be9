"""Ledger queries. Everything here runs inside the caller's transaction and only flushes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.core.ids import new_id
from indiepay.ledger.accounts import AccountRef
from indiepay.ledger.chain import GENESIS_HASH
from indiepay.ledger.models import LedgerAccount, LedgerChainHead, LedgerEntry, LedgerPosting

HEAD_ID = 1


def entry_by_key(session: Session, event_key: str) -> LedgerEntry | None:
    return session.scalars(select(LedgerEntry).where(LedgerEntry.event_key == event_key)).first()


KEY_CHUNK = 500  # event keys per IN list


def entry_ids_by_key(session: Session, event_keys: Sequence[str]) -> dict[str, str]:
    """``event key -> entry id`` for those of ``event_keys`` that were posted (asked in chunks)."""
    found: dict[str, str] = {}
    for start in range(0, len(event_keys), KEY_CHUNK):
        found.update(session.execute(select(LedgerEntry.event_key, LedgerEntry.id).where(
            LedgerEntry.event_key.in_(event_keys[start:start + KEY_CHUNK]))).tuples().all())
    return found


def entry_by_id(session: Session, entry_id: str) -> LedgerEntry | None:
    return session.get(LedgerEntry, entry_id)


def lock_head(session: Session) -> LedgerChainHead:
    """Lock the chain head row for the rest of the transaction (``FOR UPDATE``; SQLite's writers are
    serialised already), creating it on a database that was not built by the migrations."""
    query = (select(LedgerChainHead).where(LedgerChainHead.id == HEAD_ID).with_for_update()
             .execution_options(populate_existing=True))
    head = session.scalars(query).first()
    if head is not None:
        return head
    try:
        with session.begin_nested():
            session.add(LedgerChainHead(id=HEAD_ID, sequence=0, hash=GENESIS_HASH))
    except IntegrityError:
        pass  # another writer created it first
    return session.scalars(query).one()


def read_head(session: Session) -> LedgerChainHead | None:
    return session.get(LedgerChainHead, HEAD_ID)


def ensure_accounts(session: Session, refs: Sequence[AccountRef], now: datetime) -> dict[str, LedgerAccount]:
    """The account rows for ``refs`` by code, created on first use."""
    codes = [ref.code for ref in refs]
    found = {a.code: a for a in session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(codes)))}
    for ref in refs:
        if ref.code in found:
            continue
        try:
            with session.begin_nested():
                account = LedgerAccount(id=new_id("lacct"), code=ref.code, kind=ref.kind,
                                        merchant_id=ref.merchant_id, channel=ref.channel, currency=ref.currency,
                                        created_at=now)
                session.add(account)
        except IntegrityError:  # created concurrently
            account = session.scalars(select(LedgerAccount).where(LedgerAccount.code == ref.code)).one()
        found[ref.code] = account
    return found


def entry_lines(session: Session, entry_ids: Sequence[str]) -> dict[str, list[tuple[str, int]]]:
    """``entry id -> [(account code, amount)]`` sorted by code, for a batch of entries."""
    lines: dict[str, list[tuple[str, int]]] = {entry_id: [] for entry_id in entry_ids}
    if not entry_ids:
        return lines
    rows = session.execute(
        select(LedgerPosting.entry_id, LedgerAccount.code, LedgerPosting.amount)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerPosting.entry_id.in_(entry_ids))
        .order_by(LedgerPosting.entry_id, LedgerAccount.code, LedgerPosting.amount))
    for entry_id, code, amount in rows:
        lines[entry_id].append((code, amount))
    return lines


def accounts_by_code(session: Session, codes: Sequence[str]) -> dict[str, LedgerAccount]:
    return {a.code: a for a in session.scalars(select(LedgerAccount).where(LedgerAccount.code.in_(codes)))}


def currency_totals(session: Session) -> dict[str, int]:
    """Sum of every posting, per currency (zero in a sound ledger)."""
    rows = session.execute(
        select(LedgerAccount.currency, func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .group_by(LedgerAccount.currency))
    return {currency: int(total) for currency, total in rows}
