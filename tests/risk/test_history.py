"""The trailing history of the "far above normal" rules, from daily roll-ups: the same figures as reading
the payments, whichever days are rolled up; a day not rolled up (yet) is read from its payments; the daily
job is due after midnight, queues the next day and replaces a day rolled up again (SQLite and
PostgreSQL)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from indiepay.core.clock import FixedClock, business_day, business_day_start
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater
from indiepay.risk import history, tasks
from indiepay.risk.models import RiskDayVolume
from tests.risk.test_features import NOW, Shop

TODAY = business_day(NOW)


def _roll_up(db: Database, day: date) -> None:
    with db.read() as session:
        volumes = history.day_volumes(session, day)
    with db.transaction() as session:
        history.store_day(session, day, volumes, NOW)


def _history(db: Database, shop: Shop, days: int = 30, livemode: bool = False) -> tuple[int, int]:
    with db.read() as session:
        return history.merchant_history(session, shop.id, livemode, TODAY - timedelta(days=days), TODAY)


def _shop(db: Database) -> tuple[Shop, Shop]:
    shop, other = Shop(db, NOW - timedelta(days=400)), Shop(db, NOW - timedelta(days=400))
    for back, amount, status in ((1, 1_000, "succeeded"), (1, 2_000, "failed"), (2, 4_000, "pending"),
                                 (5, 8_000, "succeeded"), (29, 16_000, "succeeded"), (31, 32_000, "succeeded")):
        shop.pay(business_day_start(TODAY - timedelta(days=back)) + timedelta(hours=3), amount, status)
    shop.pay(business_day_start(TODAY - timedelta(days=1)) + timedelta(hours=4), 64_000, livemode=True)
    shop.pay(business_day_start(TODAY) + timedelta(hours=1), 128_000)  # today: not history
    other.pay(business_day_start(TODAY - timedelta(days=1)) + timedelta(hours=5), 256_000)
    return shop, other


def test_rolled_up_days_read_the_same_as_the_payments(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, other = _shop(db)
    expected = (1_000 + 4_000 + 8_000 + 16_000, 5)  # failed: counted, not in volume; 31 days back: outside
    assert _history(db, shop) == expected  # nothing rolled up: read from the payments
    for back in range(1, 31):
        _roll_up(db, TODAY - timedelta(days=back))
    scans: list[Any] = []
    original = history._SCANNED.rows
    monkeypatch.setattr(history._SCANNED, "rows", lambda *a: scans.append(a) or original(*a))
    assert _history(db, shop) == expected and scans == []  # all from the roll-ups
    assert _history(db, shop, livemode=True) == (64_000, 1)
    assert _history(db, other) == (256_000, 1)
    assert _history(db, shop, days=3) == (1_000 + 4_000, 3)
    with db.transaction() as session:  # a day rolled up again is replaced, not added to
        history.store_day(session, TODAY - timedelta(days=5), [], NOW)
    assert _history(db, shop) == (1_000 + 4_000 + 16_000, 4)


def test_once_the_whole_window_is_rolled_up_which_days_are_done_is_not_read_again_that_day(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A merchant's first payment of the day reads its roll-ups only, once every day of the window is rolled
    up (that cannot change back); while a day is missing, every history read asks again (the job may have
    run meanwhile) and the figures stay those of the payments."""
    shop, other = _shop(db)
    reads: list[Any] = []
    original = history._DONE.rows
    monkeypatch.setattr(history._DONE, "rows", lambda *a: reads.append(a) or original(*a))
    for back in range(2, 31):  # yesterday is not rolled up yet
        _roll_up(db, TODAY - timedelta(days=back))
    assert _history(db, shop) == _history(db, shop) == (1_000 + 4_000 + 8_000 + 16_000, 5)
    assert len(reads) == 2
    _roll_up(db, TODAY - timedelta(days=1))  # the job ran
    assert _history(db, shop) == (1_000 + 4_000 + 8_000 + 16_000, 5) and len(reads) == 3
    assert _history(db, other) == (256_000, 1) and _history(db, shop, livemode=True) == (64_000, 1)
    assert len(reads) == 3  # known complete for today: not asked again
    tomorrow = TODAY + timedelta(days=1)  # a new day: today itself is not rolled up, so asked again
    with db.read() as session:
        history.merchant_history(session, shop.id, False, tomorrow - timedelta(days=30), tomorrow)
    assert len(reads) == 4


def test_days_not_rolled_up_are_read_from_the_payments(db: Database) -> None:
    shop, _ = _shop(db)
    for back in (3, 4, 5, 6, 29):  # yesterday, the day before and most of the month are not
        _roll_up(db, TODAY - timedelta(days=back))
    assert _history(db, shop) == (1_000 + 4_000 + 8_000 + 16_000, 5)
    assert list(history._missing_spans(date(2026, 1, 1), date(2026, 1, 6), {"2026-01-02", "2026-01-03"})) == [
        (date(2026, 1, 1), date(2026, 1, 2)), (date(2026, 1, 4), date(2026, 1, 6))]


def test_the_daily_job_waits_for_half_past_midnight_then_rolls_up_and_queues_the_next_day(
        db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    shop, _ = _shop(db)
    yesterday = TODAY - timedelta(days=1)
    early = FixedClock(business_day_start(TODAY) + timedelta(minutes=10))
    ctx: Any = type("Ctx", (), {"db": db, "clock": early})()
    assert tasks.CHAIN.seed(db, early) == yesterday
    waiting = tasks.run_day_volumes_job(ctx, {"date": yesterday.isoformat()})
    assert isinstance(waiting, RetryLater) and waiting.at == tasks.run_at(yesterday)
    ctx.clock = FixedClock(tasks.run_at(yesterday) + timedelta(seconds=1))
    assert tasks.run_day_volumes_job(ctx, {"date": yesterday.isoformat()}) is None
    with db.read() as session:
        rows = session.scalars(select(RiskDayVolume).where(RiskDayVolume.business_date == yesterday.isoformat())
                               .where(RiskDayVolume.merchant_id == shop.id)).all()
        queued = session.scalars(select(Job.unique_key).where(Job.kind == tasks.DAY_VOLUMES_JOB)).all()
    assert sorted((r.livemode, r.volume, r.count) for r in rows) == [(False, 1_000, 2), (True, 64_000, 1)]
    assert f"{tasks.DAY_VOLUMES_JOB}:{TODAY.isoformat()}" in queued
    assert tasks.run_at(yesterday) == business_day_start(TODAY) + timedelta(minutes=30)  # 00:30 in Beijing
