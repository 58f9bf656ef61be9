"""T+1 settlement: for a finished business day, pay each merchant what the platform owes it.

One batch per (merchant, business day, currency). A batch with a positive net posts a ``settlement``
entry (payable → payout in transit) at the day's last microsecond, writes a pending payout and enqueues
the payout job, all in the caller's transaction; a batch with a net ≤ 0 records ``nothing_to_pay`` and
carries the balance forward (it is simply still on the payable account tomorrow). See
:mod:`indiepay.settlements.rules` for the arithmetic.

Why the run holds the ledger's head lock. Every ledger append serialises on ``ledger_chain_head``, so
while a run holds it no entry can appear underneath the figures it is writing, and a second run for the
same day (another worker, an operator's CLI) waits and then finds the batches already written. To keep
that lock short on PostgreSQL, the bulk of the aggregates is read *before* taking it, up to the ledger
sequence committed at that moment, and only the entries appended meanwhile are read under the lock and
added — the figures are additive over entries, so the result is exactly what one locked read would give.
The unique constraint ``uq_settlements_day`` stays as the backstop: a batch that collides with one
written by a racing run counts as already settled rather than failing the run.

Services only flush; the caller's unit of work commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.core.errors import Conflict, InvalidRequest, NotFound, Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.pagination import page_cursor
from indiepay.ledger import postings
from indiepay.ledger import repository as ledger_repository
from indiepay.ledger import service as ledger
from indiepay.ledger.appender import PostRequest
from indiepay.settlements import repository, rules
from indiepay.settlements.models import Payout, Settlement
from indiepay.settlements.payouts import PAYOUT_JOB
from indiepay.settlements.rules import Breakdown, DayFigures

log = logging.getLogger(__name__)
MAX_PAGE = 100


@dataclass(frozen=True)
class Batch:
    """A settlement batch and its payout (``None`` when there was nothing to pay)."""

    settlement: Settlement
    payout: Payout | None


@dataclass(frozen=True)
class BatchPage:
    batches: list[Batch]
    has_more: bool


def settle_day(session: Session, clock: Clock, business_date: date, *, merchant_id: str | None = None,
               skipped: list[repository.Key] | None = None) -> list[Batch]:
    """Settle business day ``business_date`` for every merchant owed or owing (or only ``merchant_id``).

    Idempotent: merchants that already have a batch for the day keep it; running a day again writes
    nothing new and returns the same batches.

    Returns:
        Every batch of the day (of ``merchant_id`` only, when given), ordered by merchant and currency.

    Raises:
        Unprocessable (``settlement_day_not_over``): the day has not ended yet by ``clock``.
        Conflict (``settlement_out_of_order``): a merchant that would get a new batch already has one for a
            later day; nothing is written. Given ``skipped`` (the daily job's way), such merchants are left
            out and listed there instead, and every other merchant is settled: one merchant settled ahead by
            hand must not hold back everyone else's money.
    """
    now = clock.now()
    if not rules.is_over(business_date, now):
        raise Unprocessable(f"business day {business_date} has not ended yet", code="settlement_day_not_over",
                            details={"business_date": business_date.isoformat(),
                                     "cutoff": rules.cutoff(business_date).isoformat()})
    start, end = rules.day_window(business_date)
    snapshot = repository.head_sequence(session)
    figures = repository.day_figures(session, start, end, up_to_sequence=snapshot)
    ledger_repository.lock_head(session)
    for key, extra in repository.day_figures(session, start, end, after_sequence=snapshot).items():
        figures[key] = figures.get(key, DayFigures()) + extra
    owed = {key: rules.breakdown(f) for key, f in figures.items()
            if f.payable_postings > 0 and (merchant_id is None or key[0] == merchant_id)}
    existing = repository.batches_on(session, business_date)
    todo = sorted(key for key, b in owed.items() if b.worth_a_batch and key not in existing)
    if skipped is None:
        _refuse_out_of_order(session, business_date, todo)
    else:
        later = repository.latest_after(session, business_date)
        skipped.extend(key for key in todo if key in later)
        todo = [key for key in todo if key not in later]
    known = repository.existing_merchants(session, [m for m, _ in todo])
    for key in todo:
        if key[0] not in known:
            log.error("merchant_payable account of unknown merchant %s (%s): not settled", *key)
    _write_batches(session, clock, business_date, [(key, owed[key]) for key in todo if key[0] in known])
    return _batches_of_day(session, business_date, merchant_id)


def _refuse_out_of_order(session: Session, business_date: date, todo: list[repository.Key]) -> None:
    later = repository.latest_after(session, business_date)
    blocked = [key for key in todo if key in later]
    if blocked:
        raise Conflict(f"cannot settle {business_date}: {len(blocked)} merchant(s) already have a batch for a "
                       "later day (their later batch included this day's money)", code="settlement_out_of_order",
                       details={"business_date": business_date.isoformat(),
                                "merchants": [{"merchant_id": m, "currency": c, "latest_business_date": later[(m, c)]}
                                              for m, c in blocked[:20]]})


def _write_batches(session: Session, clock: Clock, business_date: date,
                   todo: list[tuple[repository.Key, Breakdown]]) -> None:
    """Insert the batches, then post every settlement entry in one ledger append, then the payouts and
    their jobs: a few statements per run rather than a round of them per merchant."""
    now = clock.now()
    written = _insert_settlements(session, [_new_settlement(business_date, key, figures, now)
                                            for key, figures in todo])
    settled = [s for s in written if s.status == rules.SETTLED]
    if not settled:
        return
    requests = [PostRequest(f"settlement:{s.merchant_id}:{business_date}:{s.currency}",
                            postings.settlement(merchant_id=s.merchant_id, amount=s.payout_amount,
                                                currency=s.currency, description=f"settlement {business_date}"),
                            rules.settlement_instant(business_date))
                for s in settled]
    for settlement, entry in zip(settled, ledger.post_many(session, clock, requests), strict=True):
        settlement.ledger_entry_id = entry.id
    payouts = [Payout(id=new_id("po"), settlement_id=s.id, merchant_id=s.merchant_id, amount=s.payout_amount,
                      currency=s.currency, status="pending", reference=None, failure_code=None,
                      failure_message=None, attempts=0, created_at=now, updated_at=now, paid_at=None,
                      failed_at=None) for s in settled]
    session.add_all(payouts)
    session.flush()
    for payout in payouts:
        enqueue(session, PAYOUT_JOB, {"payout_id": payout.id}, now=now, unique_key=f"payout:{payout.id}",
                first=True)


def _new_settlement(business_date: date, key: repository.Key, figures: Breakdown, now: datetime) -> Settlement:
    merchant_id, currency = key
    return Settlement(
        id=new_id("stl"), merchant_id=merchant_id, business_date=business_date.isoformat(), currency=currency,
        payments_amount=figures.payments_amount, refunds_amount=figures.refunds_amount,
        platform_fee=figures.platform_fee, channel_fee=figures.channel_fee, other_amount=figures.other_amount,
        carried_in=figures.carried_in, net_amount=figures.net_amount, payout_amount=figures.payout_amount,
        carried_forward=figures.carried_forward, status=figures.status, ledger_entry_id=None, created_at=now)


def _insert_settlements(session: Session, rows: list[Settlement]) -> list[Settlement]:
    """Insert the batches in one go; if the unique constraint refuses one (a racing run wrote it first),
    insert them one by one and skip those already there. Returns the batches this run wrote."""
    try:
        with session.begin_nested():
            session.add_all(rows)
        return rows
    except IntegrityError:
        pass
    written = []
    for row in rows:
        fresh = Settlement(**{column: getattr(row, column) for column in _COLUMNS})
        try:
            with session.begin_nested():
                session.add(fresh)
            written.append(fresh)
        except IntegrityError:
            log.info("settlement %s %s %s was written by a concurrent run", fresh.merchant_id,
                     fresh.business_date, fresh.currency)
    return written


_COLUMNS = ("id", "merchant_id", "business_date", "currency", "payments_amount", "refunds_amount", "platform_fee",
            "channel_fee", "other_amount", "carried_in", "net_amount", "payout_amount", "carried_forward", "status",
            "ledger_entry_id", "created_at")


def _batches_of_day(session: Session, business_date: date, merchant_id: str | None) -> list[Batch]:
    rows = [s for key, s in sorted(repository.batches_on(session, business_date).items())
            if merchant_id is None or key[0] == merchant_id]
    payouts = repository.payouts_for(session, [s.id for s in rows])
    return [Batch(s, payouts.get(s.id)) for s in rows]


def list_settlements(session: Session, *, merchant_id: str | None, business_date: date | None = None,
                     limit: int = 20, starting_after: str | None = None) -> BatchPage:
    """Batches newest business day first, ``limit`` at a time.

    Args:
        merchant_id: only this merchant's batches (``None``: every merchant's — the operator's view).
        starting_after: the id of the last batch of the previous page.

    Raises:
        InvalidRequest: ``limit`` outside 1..100, or ``starting_after`` names no batch in this scope.
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="invalid_request")
    def visible(found: str) -> Settlement | None:
        row = session.get(Settlement, found)
        return row if row is not None and merchant_id in (None, row.merchant_id) else None

    cursor = page_cursor(starting_after, visible, "settlement")
    rows = repository.list_page(session, merchant_id=merchant_id, business_date=business_date, limit=limit,
                                starting_after=cursor)
    page = rows[:limit]
    payouts = repository.payouts_for(session, [s.id for s in page])
    return BatchPage([Batch(s, payouts.get(s.id)) for s in page], has_more=len(rows) > limit)


def get_settlement(session: Session, settlement_id: str, *, merchant_id: str | None) -> Batch:
    """One batch with its payout; ``merchant_id`` scopes the lookup (``None``: the operator sees all).

    Raises:
        NotFound (``settlement_not_found``): no such batch, or it belongs to another merchant.
    """
    settlement = session.get(Settlement, settlement_id)
    if settlement is None or (merchant_id is not None and settlement.merchant_id != merchant_id):
        raise NotFound(f"no settlement {settlement_id}", code="settlement_not_found")
    return Batch(settlement, repository.payouts_for(session, [settlement.id]).get(settlement.id))
