"""Racing settlement runs on PostgreSQL: however many runs settle the same day at once (threads and
separate processes), each merchant gets exactly one batch, one ledger entry and one payout — while
payments keep being posted underneath, and without losing or doubling a fen."""

from __future__ import annotations

import multiprocessing
import threading
from datetime import date

import pytest
from sqlalchemy import func, select

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.ledger.models import LedgerEntry
from indiepay.settlements import rules
from indiepay.settlements.models import Payout, Settlement
from indiepay.settlements.payouts import PAYOUT_JOB
from indiepay.settlements.service import settle_day
from tests.settlements.books import add_merchants, assert_ledger_sound, cst, natural, owed, pay
from tests.support.concurrency import race

pytestmark = pytest.mark.postgres
D1, D2 = date(2026, 11, 20), date(2026, 11, 21)
MERCHANTS = [f"mch_{n}" for n in range(6)]


def _seed(db: Database) -> int:
    """Ten payments per merchant on D1; returns what one merchant is owed."""
    add_merchants(db, *MERCHANTS)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        for merchant_id in MERCHANTS:
            for n in range(10):
                pay(session, clock, f"pay_{merchant_id}_{n}", merchant_id, 1_000 + n, cst(D1, 9, n))
    return sum(owed(1_000 + n) for n in range(10))


def _assert_one_batch_each(db: Database) -> None:
    with db.read() as session:
        per_merchant = dict(session.execute(select(Settlement.merchant_id, func.count())
                                            .group_by(Settlement.merchant_id)).all())
        settlements = session.scalar(select(func.count()).select_from(LedgerEntry)
                                     .where(LedgerEntry.event_type == "settlement"))
        payouts = session.scalar(select(func.count()).select_from(Payout))
        jobs = session.scalar(select(func.count()).select_from(Job).where(Job.kind == PAYOUT_JOB))
    assert per_merchant == dict.fromkeys(MERCHANTS, 1)
    assert settlements == payouts == jobs == len(MERCHANTS)


def test_eight_racing_runs_with_payments_posted_underneath(pg: Database) -> None:
    owed_each = _seed(pg)
    clock = FixedClock(rules.run_at(D1))
    seen: list[frozenset[str]] = []
    late: list[tuple[str, int]] = []

    def work(n: int) -> None:
        if n >= 8:  # two writers keep posting late D1 payments while the runs race
            for i in range(15):
                merchant_id, amount = MERCHANTS[i % len(MERCHANTS)], 500 + n * 100 + i
                with pg.transaction() as session:
                    pay(session, clock, f"late_{n}_{i}", merchant_id, amount, cst(D1, 23, 59))
                late.append((merchant_id, amount))
            return
        with pg.transaction() as session:
            batches = settle_day(session, clock, D1)
        seen.append(frozenset(b.settlement.id for b in batches))

    assert race(10, work) == []
    assert len(set(seen)) == 1 and len(next(iter(seen))) == len(MERCHANTS)
    _assert_one_batch_each(pg)
    with pg.transaction() as session:
        next_day = {b.settlement.merchant_id: b for b in settle_day(session, FixedClock(rules.run_at(D2)), D2)}
    for merchant_id in MERCHANTS:
        late_owed = sum(owed(amount) for m, amount in late if m == merchant_id)
        # every fen owed was settled exactly once: some late payments made D1's batch, the rest D2's
        assert natural(pg, f"payout_in_transit:{merchant_id}:CNY") == owed_each + late_owed
        batch = next_day.get(merchant_id)
        assert (batch.settlement.carried_in if batch else 0) == owed_each + late_owed - _d1_payout(pg, merchant_id)
    assert_ledger_sound(pg)


def _d1_payout(db: Database, merchant_id: str) -> int:
    with db.read() as session:
        return int(session.scalars(select(Settlement.payout_amount).where(
            Settlement.merchant_id == merchant_id, Settlement.business_date == D1.isoformat())).one())


def _settle_in_process(url: str, start: threading.Barrier) -> list[str]:
    db = Database(url)
    try:
        start.wait()
        with db.transaction() as session:
            return sorted(b.settlement.id for b in settle_day(session, FixedClock(rules.run_at(D1)), D1))
    finally:
        db.dispose()


def test_four_processes_settling_the_same_day_write_one_batch_each(pg: Database, postgres_url: str) -> None:
    _seed(pg)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager:
        start = manager.Barrier(4)
        with context.Pool(4) as pool:
            results = pool.starmap(_settle_in_process, [(postgres_url, start)] * 4)
    assert len({tuple(r) for r in results}) == 1 and len(results[0]) == len(MERCHANTS)
    _assert_one_batch_each(pg)
    assert_ledger_sound(pg)
