"""Settlement queries: the grouped ledger aggregates a day's batches are computed from, and batch lookups.

The aggregates read a *range of ledger sequences* so that the bulk of the work can run before the
ledger's head lock is taken and the entries posted meanwhile can be added under it (see
:mod:`indiepay.settlements.service`). Both are a handful of grouped SQL statements for all merchants at
once — never a loop over entries in Python — so a 100,000-payment day stays a matter of seconds.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import ColumnElement, case, func, select, tuple_
from sqlalchemy.orm import Session

from indiepay.ledger import repository as ledger_repository
from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.merchants.models import Merchant
from indiepay.settlements.models import Payout, Settlement
from indiepay.settlements.rules import DayFigures

Key = tuple[str, str]  # (merchant id, currency)
PAYABLE = "merchant_payable"
PLATFORM_FEE = "platform_fee_revenue"
CHANNEL_FEE = "channel_fee_recharged"
PAYMENT = "payment_succeeded"
REFUND = "refund_succeeded"
SEQUENCE_MAX = 2**62  # "no upper bound" for a sequence range


def head_sequence(session: Session) -> int:
    """The last committed ledger sequence (no lock): every entry up to it is committed."""
    head = ledger_repository.read_head(session)
    return head.sequence if head is not None else 0


def _in_range(lo: int, hi: int | None) -> ColumnElement[bool]:
    """Entries with a sequence in ``(lo, hi]``. Both bounds are always given: SQLite then walks the
    sequence index (entries in append order, grouped without a sort) instead of starting from accounts."""
    return (LedgerEntry.sequence > lo) & (LedgerEntry.sequence <= (SEQUENCE_MAX if hi is None else hi))


def day_figures(session: Session, start: datetime, end: datetime, *, after_sequence: int = 0,
                up_to_sequence: int | None = None) -> dict[Key, DayFigures]:
    """Ledger sums per (merchant, currency) for the day ``[start, end)``, over entries whose sequence is
    in ``(after_sequence, up_to_sequence]``. Every merchant with a payable posting or a platform-collection
    payment or refund in the range appears; the caller decides who is settled (figures of two ranges add).

    Payable figures are grouped by *account* (a correction may move money between two merchants); the
    payment and refund figures by the entry's merchant, which the posting builders always set."""
    in_day = LedgerEntry.occurred_at >= start
    payable_rows = session.execute(
        select(LedgerAccount.merchant_id, LedgerAccount.currency, func.count(), func.sum(LedgerPosting.amount),
               func.sum(case((in_day, LedgerPosting.amount), else_=0)), func.count(case((in_day, 1))))
        .select_from(LedgerEntry)
        .join(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerAccount.kind == PAYABLE, LedgerEntry.occurred_at < end, _in_range(after_sequence, up_to_sequence))
        .group_by(LedgerAccount.id))
    figures: dict[Key, DayFigures] = {}
    for merchant_id, currency, postings, before, day, count in payable_rows:
        figures[(str(merchant_id), currency)] = DayFigures(payable_postings=int(postings),
                                                           payable_before_cutoff=int(before or 0),
                                                           payable_in_day=int(day or 0),
                                                           payable_postings_in_day=int(count or 0))
    for (merchant_id, currency, event_type), (payable, platform_fee, channel_fee) in _payments_and_refunds(
            session, start, end, after_sequence, up_to_sequence).items():
        known = figures.get((merchant_id, currency), DayFigures())
        if event_type == PAYMENT:
            extra = DayFigures(pay_payable=payable, pay_platform_fee=platform_fee, pay_channel_fee=channel_fee)
        else:
            extra = DayFigures(refund_payable=payable, refund_platform_fee=platform_fee, refund_channel_fee=channel_fee)
        figures[(merchant_id, currency)] = known + extra
    return figures


def _payments_and_refunds(session: Session, start: datetime, end: datetime, lo: int,
                          hi: int | None) -> dict[tuple[str, str, str], tuple[int, int, int]]:
    """Payable and fee postings of the day's platform-collection payment and refund entries, per merchant.

    Grouped per entry first (by sequence, the order the index walk yields them in), because only the
    entry tells the two collection modes apart: an independent-collection entry always has memo postings
    (its money never touched the platform), and its technology fee belongs to "other", not to the
    platform-collection fee figures.
    """
    def kind_sum(kind: str) -> ColumnElement[int]:
        return func.sum(case((LedgerAccount.kind == kind, LedgerPosting.amount), else_=0))

    per_entry = (
        select(func.max(LedgerEntry.merchant_id).label("merchant_id"),
               func.max(LedgerEntry.event_type).label("event_type"),
               func.max(LedgerAccount.currency).label("currency"),
               kind_sum(PAYABLE).label("payable"), kind_sum(PLATFORM_FEE).label("platform_fee"),
               kind_sum(CHANNEL_FEE).label("channel_fee"),
               func.max(case((LedgerAccount.kind.like("memo\\_%", escape="\\"), 1), else_=0)).label("memo"))
        .select_from(LedgerEntry)
        .join(LedgerPosting, LedgerPosting.entry_id == LedgerEntry.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .where(LedgerEntry.occurred_at >= start, LedgerEntry.occurred_at < end,
               LedgerEntry.event_type.in_((PAYMENT, REFUND)), LedgerEntry.merchant_id.is_not(None),
               _in_range(lo, hi))
        .group_by(LedgerEntry.sequence)
        .subquery())
    rows = session.execute(
        select(per_entry.c.merchant_id, per_entry.c.currency, per_entry.c.event_type, func.sum(per_entry.c.payable),
               func.sum(per_entry.c.platform_fee), func.sum(per_entry.c.channel_fee))
        .where(per_entry.c.memo == 0)
        .group_by(per_entry.c.merchant_id, per_entry.c.currency, per_entry.c.event_type))
    return {(str(m), c, e): (int(p or 0), int(pf or 0), int(cf or 0)) for m, c, e, p, pf, cf in rows}


def batches_on(session: Session, business_date: date) -> dict[Key, Settlement]:
    """Every batch already written for ``business_date``, by (merchant, currency)."""
    rows = session.scalars(select(Settlement).where(Settlement.business_date == business_date.isoformat()))
    return {(s.merchant_id, s.currency): s for s in rows}


def latest_after(session: Session, business_date: date) -> dict[Key, str]:
    """(merchant, currency) -> the latest business date with a batch *after* ``business_date``."""
    rows = session.execute(select(Settlement.merchant_id, Settlement.currency, func.max(Settlement.business_date))
                           .where(Settlement.business_date > business_date.isoformat())
                           .group_by(Settlement.merchant_id, Settlement.currency))
    return {(merchant_id, currency): latest for merchant_id, currency, latest in rows}


def existing_merchants(session: Session, merchant_ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    ids = sorted(set(merchant_ids))
    for n in range(0, len(ids), 500):  # keep the IN list well under every driver's parameter limit
        found.update(session.scalars(select(Merchant.id).where(Merchant.id.in_(ids[n:n + 500]))))
    return found


def payouts_for(session: Session, settlement_ids: Sequence[str]) -> dict[str, Payout]:
    """Payouts by settlement id."""
    if not settlement_ids:
        return {}
    return {p.settlement_id: p for p in session.scalars(select(Payout).where(Payout.settlement_id.in_(settlement_ids)))}


def list_page(session: Session, *, merchant_id: str | None, business_date: date | None, limit: int,
              starting_after: Settlement | None) -> list[Settlement]:
    """Newest business day first (then id), keyset-paginated; one row more than ``limit`` tells "has more"."""
    query = select(Settlement)
    if merchant_id is not None:
        query = query.where(Settlement.merchant_id == merchant_id)
    if business_date is not None:
        query = query.where(Settlement.business_date == business_date.isoformat())
    if starting_after is not None:
        query = query.where(tuple_(Settlement.business_date, Settlement.id)
                            < tuple_(starting_after.business_date, starting_after.id))
    query = query.order_by(Settlement.business_date.desc(), Settlement.id.desc()).limit(limit + 1)
    return list(session.scalars(query))


def clearing_balances(session: Session, currency: str) -> dict[str, int]:
    """``channel -> signed balance`` of every ``platform_clearing:<channel>:<currency>`` account."""
    rows = session.execute(
        select(LedgerAccount.channel, func.coalesce(func.sum(LedgerPosting.amount), 0))
        .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(LedgerAccount.kind == "platform_clearing", LedgerAccount.currency == currency)
        .group_by(LedgerAccount.channel))
    return {str(channel): int(total) for channel, total in rows}
