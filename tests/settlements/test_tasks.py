"""The self-renewing daily schedule in the job table: seeding, settling yesterday at 02:00 Beijing time,
queueing tomorrow, catching up after downtime, and the payouts that follow — all through the worker."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func, select

from indiepay.alerts.models import Alert
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater, Worker
from indiepay.settlements import rules
from indiepay.settlements.models import Payout, Settlement
from indiepay.settlements.payouts import PAYOUT_JOB, SandboxPayoutProvider, run_payout_job
from indiepay.settlements.service import settle_day
from indiepay.settlements.tasks import RUN_DAY_JOB, day_job_key, run_day_job, seed_schedule
from tests.settlements.books import add_merchants, assert_ledger_sound, cst, natural, owed, pay

D1, D2, D3, D4 = (date(2026, 11, 20) + timedelta(days=n) for n in range(4))
A = "mch_a"


def worker(db: Database, clock: FixedClock, provider: SandboxPayoutProvider) -> Worker:
    def settle_job(args: dict[str, Any]) -> RetryLater | None:
        return run_day_job(db, clock, args)

    def payout_job(args: dict[str, Any]) -> RetryLater | None:
        return run_payout_job(db, clock, provider, args)

    return Worker(db, clock, {RUN_DAY_JOB: settle_job, PAYOUT_JOB: payout_job})


def day_jobs(db: Database) -> list[tuple[str, str, str | None]]:
    with db.read() as session:
        jobs = session.scalars(select(Job).where(Job.kind == RUN_DAY_JOB).order_by(Job.run_at)).all()
    return [(j.args["date"], j.status, j.unique_key) for j in jobs]


def test_seeding_queues_yesterday_once(db: Database) -> None:
    clock = FixedClock(cst(D2, 1))
    assert seed_schedule(db, clock) == D1
    assert seed_schedule(db, clock) is None
    with db.read() as session:
        job = session.scalars(select(Job).where(Job.kind == RUN_DAY_JOB)).one()
    assert job.args == {"date": "2026-11-20"} and job.unique_key == day_job_key(D1)
    assert job.run_at == rules.run_at(D1) == cst(D2, 2)


def test_the_worker_settles_yesterday_pays_out_and_queues_tomorrow(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 10_000, cst(D1, 9))
    provider = SandboxPayoutProvider()
    jobs = worker(db, clock, provider)
    clock.advance(cst(D2, 1) - clock.now())
    assert seed_schedule(db, clock) == D1
    assert jobs.drain() == 0  # not 02:00 yet
    clock.advance(timedelta(hours=1))
    assert jobs.drain() == 2  # the day job, then the payout it queued
    with db.read() as session:
        settlement = session.scalars(select(Settlement)).one()
        payout = session.scalars(select(Payout)).one()
    assert settlement.business_date == "2026-11-20" and settlement.net_amount == owed(10_000)
    assert payout.status == "paid" and provider.paid_total(A) == owed(10_000)
    assert day_jobs(db) == [("2026-11-20", "done", None), ("2026-11-21", "queued", day_job_key(D2))]
    assert seed_schedule(db, clock) is None  # the chain is alive: starting another worker adds nothing
    assert natural(db, f"payout_in_transit:{A}:CNY") == 0
    assert_ledger_sound(db)


def test_after_downtime_the_chain_catches_up_day_by_day(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D1, 9))
    with db.transaction() as session:
        for n, day in enumerate((D1, D2, D3, D4)):
            pay(session, clock, f"pay_{n}", A, 1_000 * (n + 1), cst(day, 9))
    assert seed_schedule(db, FixedClock(cst(D2, 1))) == D1
    clock.advance(cst(D4, 10) - clock.now())  # the worker was down for three days
    worker(db, clock, SandboxPayoutProvider()).drain()
    with db.read() as session:
        batches = session.scalars(select(Settlement).order_by(Settlement.business_date)).all()
        paid = session.scalars(select(Payout.status)).all()
    assert [(b.business_date, b.net_amount) for b in batches] == [
        ("2026-11-20", owed(1_000)), ("2026-11-21", owed(2_000)), ("2026-11-22", owed(3_000))]
    assert paid == ["paid"] * 3
    assert day_jobs(db)[-1] == ("2026-11-23", "queued", day_job_key(D4))
    assert natural(db, f"merchant_payable:{A}:CNY") == owed(4_000)  # D4 has not ended
    assert_ledger_sound(db)


def test_a_day_job_that_runs_early_waits_for_the_day_to_end(db: Database) -> None:
    retry = run_day_job(db, FixedClock(cst(D1, 23)), {"date": D1.isoformat()})
    assert isinstance(retry, RetryLater) and retry.at == rules.run_at(D1)
    assert day_jobs(db) == []


def test_a_day_settled_out_of_order_by_hand_is_skipped_and_the_chain_goes_on(db: Database) -> None:
    add_merchants(db, A)
    clock = FixedClock(cst(D3, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", A, 1_000, cst(D1, 9))
        settle_day(session, clock, D2)  # an operator settled D2 before the D1 job ran
    assert run_day_job(db, clock, {"date": D1.isoformat()}) is None
    with db.read() as session:
        assert [s.business_date for s in session.scalars(select(Settlement))] == ["2026-11-21"]
    assert day_jobs(db) == [("2026-11-21", "queued", day_job_key(D2))]


def test_one_merchant_settled_ahead_by_hand_holds_back_no_one_else(db: Database) -> None:
    """The operator settled D2 for merchant A alone; the D1 job used to refuse the whole day, so B — never
    touched — got no D1 batch and no payout that day. Now A is left out (its D2 batch holds its D1 money), B is
    settled, and the operator is told which merchants were left out."""
    add_merchants(db, A, "mch_b")
    clock = FixedClock(cst(D3, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_a", A, 1_000, cst(D1, 9))
        pay(session, clock, "pay_b", "mch_b", 5_000, cst(D1, 9))
        settle_day(session, clock, D2, merchant_id=A)
    assert run_day_job(db, clock, {"date": D1.isoformat()}) is None
    with db.read() as session:
        batches = sorted((s.merchant_id, s.business_date) for s in session.scalars(select(Settlement)))
        alerts = session.scalars(select(Alert).where(Alert.kind == "settlement_skipped")).all()
    assert batches == [(A, D2.isoformat()), ("mch_b", D1.isoformat())]
    assert [(a.severity, a.details["merchants"]) for a in alerts] == [("medium", [{"merchant_id": A,
                                                                                  "currency": "CNY"}])]
    assert run_day_job(db, clock, {"date": D1.isoformat()}) is None  # again: nothing more, one alert
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Settlement)) == 2
        assert session.scalar(select(func.count()).select_from(Alert)) == 1
