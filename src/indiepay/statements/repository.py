"""Statement queries: a month of ledger entries with their postings, direct sums for the reconciliation,
and the stored ``statements`` rows. Everything runs inside the caller's transaction and only flushes."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.statements.models import Statement


@dataclass(frozen=True)
class Line:
    """One posting of a month's entry, with the entry and account columns a statement needs."""

    entry_id: str
    sequence: int
    event_type: str
    entry_merchant_id: str | None
    reverses_entry_id: str | None
    code: str
    kind: str
    account_merchant_id: str | None
    channel: str | None
    amount: int


def _in_month(start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [LedgerEntry.occurred_at >= start, LedgerEntry.occurred_at < end]


def month_lines(session: Session, merchant_id: str, currency: str, start: datetime, end: datetime) -> list[Line]:
    """Every posting of the entries in ``[start, end)`` that concern the merchant, in ``currency``, ordered
    by entry sequence then account code.

    An entry concerns the merchant when it is the merchant's (``merchant_id``) or when it is a correction
    filed under no or another merchant that nevertheless touches one of the merchant's accounts (only
    corrections can: every other builder files the entry under the merchant whose accounts it names).
    """
    touching = (select(LedgerPosting.entry_id)
                .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                .where(LedgerAccount.merchant_id == merchant_id, LedgerEntry.event_type == "correction",
                       or_(LedgerEntry.merchant_id.is_(None), LedgerEntry.merchant_id != merchant_id),
                       *_in_month(start, end)))
    query = (select(LedgerEntry.id, LedgerEntry.sequence, LedgerEntry.event_type, LedgerEntry.merchant_id,
                    LedgerEntry.reverses_entry_id, LedgerAccount.code, LedgerAccount.kind,
                    LedgerAccount.merchant_id, LedgerAccount.channel, LedgerPosting.amount)
             .join(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
             .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
             .where(*_in_month(start, end), LedgerAccount.currency == currency,
                    or_(LedgerEntry.merchant_id == merchant_id, LedgerEntry.id.in_(touching)))
             .order_by(LedgerEntry.sequence, LedgerAccount.code))
    return [Line(entry_id, sequence, event_type, entry_merchant, reverses, code, kind, account_merchant, channel,
                 int(amount))
            for entry_id, sequence, event_type, entry_merchant, reverses, code, kind, account_merchant, channel, amount
            in session.execute(query)]


def reversed_entries(session: Session, entry_ids: Sequence[str]) -> dict[str, tuple[str, str | None]]:
    """``entry id -> (event type, the entry it reverses)`` for the given entries."""
    if not entry_ids:
        return {}
    rows = session.execute(select(LedgerEntry.id, LedgerEntry.event_type, LedgerEntry.reverses_entry_id)
                           .where(LedgerEntry.id.in_(entry_ids)))
    return {entry_id: (event_type, reverses) for entry_id, event_type, reverses in rows}


def own_account_changes(session: Session, merchant_id: str, currency: str, start: datetime,
                        end: datetime) -> Counter[str]:
    """Signed change (debit positive) of the merchant's accounts in ``[start, end)``, per account kind,
    summed straight from the postings (the reconciliation's independent side)."""
    rows = session.execute(
        select(LedgerAccount.kind, func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerAccount.merchant_id == merchant_id, LedgerAccount.currency == currency,
               *_in_month(start, end))
        .group_by(LedgerAccount.kind))
    return Counter({kind: int(total) for kind, total in rows})


def balance_before(session: Session, code: str, instant: datetime) -> int:
    """Signed balance of the account ``code`` from every entry that occurred before ``instant``."""
    total = session.scalar(
        select(func.coalesce(func.sum(LedgerPosting.amount), 0))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerAccount.code == code, LedgerEntry.occurred_at < instant))
    return int(total or 0)


def stored(session: Session, merchant_id: str, month: str, currency: str, *, lock: bool = False) -> Statement | None:
    query = select(Statement).where(Statement.merchant_id == merchant_id, Statement.month == month,
                                    Statement.currency == currency)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    return session.scalars(query).first()
