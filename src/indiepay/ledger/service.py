"""Posting to the ledger and reading it back.

:func:`post` appends one entry for one business event. It is idempotent by ``event_key`` — the key names
the event (``payment_succeeded:pay_…``, ``refund_succeeded:re_…``, ``settlement:mch_…:2026-11-25``),
so a replayed callback, a retried job or a concurrent duplicate returns the entry already posted and
posts nothing. Appends lock the chain head, so entries get gap-free sequences and each hash chains onto
the previous one even with many writers on PostgreSQL. Balances are never stored: they are sums over
postings. Services only flush; the caller's unit of work commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.ledger import accounts as acc
from indiepay.ledger import appender, postings, repository
from indiepay.ledger.accounts import AccountRef, natural_balance
from indiepay.ledger.appender import PostedEntry, PostRequest
from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.ledger.postings import PostingPlan

MAX_PAGE = 500


@dataclass(frozen=True)
class Balance:
    """An account's balance: ``balance`` is the signed sum (debit positive), ``natural`` as a person reads it."""

    code: str
    kind: str
    merchant_id: str | None
    channel: str | None
    currency: str
    balance: int

    @property
    def natural(self) -> int:
        return natural_balance(self.kind, self.balance)


@dataclass(frozen=True)
class EntryView:
    id: str
    sequence: int
    event_key: str
    event_type: str
    merchant_id: str | None
    description: str
    occurred_at: datetime
    reverses_entry_id: str | None
    postings: tuple[tuple[str, int], ...]  # (account code, signed fen), sorted by code


@dataclass(frozen=True)
class EntryPage:
    entries: list[EntryView]
    next_cursor: int | None  # pass as ``before`` to get the next (older) page


def post(session: Session, clock: Clock, *, event_key: str, plan: PostingPlan, occurred_at: datetime | None = None,
         reverses_entry_id: str | None = None) -> PostedEntry:
    """Post ``plan`` as the entry for the business event ``event_key``, once.

    Args:
        event_key: names the causing event; a second post with the same key returns the first entry.
        plan: balanced postings from :mod:`indiepay.ledger.postings`.
        occurred_at: when the event happened (defaults to now); stored in UTC.
        reverses_entry_id: set by :func:`reverse` only.

    Returns:
        The new entry, or the existing one (``replayed``) when ``event_key`` was posted before.

    Raises:
        Conflict (``ledger_event_mismatch``): ``event_key`` was posted before with different postings.
        InvalidRequest: the event key is empty or too long, or ``occurred_at`` is naive.
    """
    request = PostRequest(event_key, plan, occurred_at, reverses_entry_id)
    return appender.append(session, clock, [request])[0]


def post_many(session: Session, clock: Clock, requests: Sequence[PostRequest]) -> list[PostedEntry]:
    """Post a batch of events in one go (settlement runs, imports): same rules as :func:`post`."""
    return appender.append(session, clock, requests)


def stored_plan(session: Session, entry: LedgerEntry) -> PostingPlan:
    """Rebuild the plan an entry was posted with (for reversing it)."""
    lines = repository.entry_lines(session, [entry.id])[entry.id]
    accounts = repository.accounts_by_code(session, [code for code, _ in lines])
    return postings.plan(entry.event_type, [(_ref(accounts[code]), amount) for code, amount in lines],
                         merchant_id=entry.merchant_id, description=entry.description)


def _ref(account: LedgerAccount) -> AccountRef:
    return AccountRef(code=account.code, kind=account.kind, currency=account.currency,
                      merchant_id=account.merchant_id, channel=account.channel)


def reverse(session: Session, clock: Clock, entry_id: str, reason: str) -> PostedEntry:
    """Cancel an entry with a correction that negates every posting, keyed ``reversal:<entry_id>``.

    Reversing twice returns the first reversal. A reversal can itself be reversed (re-instating the
    original amounts under a new entry).

    Raises:
        NotFound: there is no entry ``entry_id``.
        InvalidRequest: ``reason`` is empty.
    """
    if not reason.strip():
        raise InvalidRequest("a reversal needs a reason", code="invalid_request")
    entry = repository.entry_by_id(session, entry_id)
    if entry is None:
        raise NotFound(f"no ledger entry {entry_id}", code="ledger_entry_not_found")
    correction = postings.reverse(stored_plan(session, entry), description=f"reversal of {entry_id}: {reason}")
    return post(session, clock, event_key=f"reversal:{entry_id}", plan=correction, reverses_entry_id=entry_id)


def balances(session: Session, merchant_id: str | None = None, *, currency: str | None = None,
             include_memo: bool = True) -> list[Balance]:
    """Every account's balance (sum of its postings), by code; optionally one merchant's accounts only."""
    query = (select(LedgerAccount.code, LedgerAccount.kind, LedgerAccount.merchant_id, LedgerAccount.channel,
                    LedgerAccount.currency, func.coalesce(func.sum(LedgerPosting.amount), 0))
             .outerjoin(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
             .group_by(LedgerAccount.id, LedgerAccount.code, LedgerAccount.kind, LedgerAccount.merchant_id,
                       LedgerAccount.channel, LedgerAccount.currency)
             .order_by(LedgerAccount.code))
    if merchant_id is not None:
        query = query.where(LedgerAccount.merchant_id == merchant_id)
    if currency is not None:
        query = query.where(LedgerAccount.currency == currency)
    if not include_memo:
        query = query.where(LedgerAccount.kind.not_like("memo\\_%", escape="\\"))
    return [Balance(code, kind, mid, channel, cur, int(total))
            for code, kind, mid, channel, cur, total in session.execute(query)]


def owed_to_merchant(session: Session, merchant_id: str, currency: str = "CNY") -> int:
    """What the platform owes the merchant now (its ``merchant_payable`` read naturally; negative: the
    merchant owes the platform, e.g. refunds beyond a day's takings carried forward)."""
    return natural_balance("merchant_payable", balance_of(session, acc.merchant_payable(merchant_id, currency).code))


def merchant_account_lines(session: Session, merchant_id: str, *, limit: int = 20,
                           currency: str = "CNY") -> list[tuple[EntryView, int]]:
    """The merchant's latest entries that moved what the platform owes it, newest first, each with that
    move read naturally (+: owed more, −: paid out or charged) — the merchant's statement of account."""
    code = acc.merchant_payable(merchant_id, currency).code
    found: list[tuple[EntryView, int]] = []
    for entry in entries(session, merchant_id=merchant_id, limit=limit).entries:
        moved = sum(amount for posted, amount in entry.postings if posted == code)
        if moved:
            found.append((entry, natural_balance("merchant_payable", moved)))
    return found


def balance_of(session: Session, code: str) -> int:
    """One account's signed balance (0 for an account never posted to)."""
    total = session.scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0))
                           .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                           .where(LedgerAccount.code == code))
    return int(total or 0)


def entries(session: Session, *, merchant_id: str | None = None, event_type: str | None = None,
            before: int | None = None, limit: int = 50) -> EntryPage:
    """Entries newest first, ``limit`` at a time; ``before`` is the ``next_cursor`` of the previous page.

    Raises:
        InvalidRequest: ``limit`` is outside 1..500.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="invalid_request")
    query = select(LedgerEntry).order_by(LedgerEntry.sequence.desc()).limit(limit + 1)
    if merchant_id is not None:
        query = query.where(LedgerEntry.merchant_id == merchant_id)
    if event_type is not None:
        query = query.where(LedgerEntry.event_type == event_type)
    if before is not None:
        query = query.where(LedgerEntry.sequence < before)
    rows: Sequence[LedgerEntry] = session.scalars(query).all()
    page, more = rows[:limit], len(rows) > limit
    lines = repository.entry_lines(session, [e.id for e in page])
    views = [EntryView(e.id, e.sequence, e.event_key, e.event_type, e.merchant_id, e.description, e.occurred_at,
                       e.reverses_entry_id, tuple(lines[e.id])) for e in page]
    return EntryPage(views, page[-1].sequence if more and page else None)
