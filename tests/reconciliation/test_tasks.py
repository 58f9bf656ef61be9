"""The daily job: seeded once at 10:00 Beijing for yesterday, renewing itself, fanning out per account;
an account's job reconciles its stored bill or fetches it, and retries in 30 minutes while the channel
has not published the bill."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from indiepay.alerts.models import Alert
from indiepay.channels.base import BillFile, BillHashMismatch, BillNotReady
from indiepay.context import ServiceContext
from indiepay.core.clock import FixedClock
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater
from indiepay.reconciliation import fundflow_service, service, tasks
from indiepay.reconciliation.models import ReconciliationBill, ReconciliationDifference, ReconciliationRun
from indiepay.runtime import job_handlers
from indiepay.settlements.payouts import UnconfiguredPayoutProvider
from tests.reconciliation.world import DAY, World, beijing


def _jobs(ctx: ServiceContext) -> list[tuple[str | None, dict[str, object]]]:
    with ctx.db.read() as session:
        return sorted(((j.unique_key, j.args) for j in session.scalars(select(Job).where(
            Job.kind == tasks.RUN_DAY_JOB))), key=lambda item: str(item[0]))


def test_the_schedule_is_seeded_once_and_fans_out_per_account(world: World) -> None:
    ctx = world.ctx
    assert tasks.RUN_DAY_JOB in job_handlers(ctx, UnconfiguredPayoutProvider())
    assert tasks.seed_schedule(ctx.db, ctx.clock) == DAY
    assert tasks.seed_schedule(ctx.db, ctx.clock) is None
    assert tasks.run_at(DAY) == beijing(DAY + timedelta(days=1), 10)
    assert tasks.run_day_job(ctx, {"date": DAY.isoformat()}) is None
    keys = [key for key, _ in _jobs(ctx)]
    assert f"reconciliation.account:{DAY}:{world.account_id}" in keys
    assert f"reconciliation.day:{DAY + timedelta(days=1)}" in keys
    early = tasks.run_day_job(ctx, {"date": (DAY + timedelta(days=1)).isoformat()})
    assert isinstance(early, RetryLater) and early.at == tasks.run_at(DAY + timedelta(days=1))


def test_an_account_job_fetches_retries_while_not_ready_and_then_reconciles(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    pay = world.payment(1_000, beijing(DAY, 10))
    content = world.wechat_bill([world.wechat_row(pay)])
    answers: list[BillFile | Exception] = [BillNotReady("STATEMENT_CREATING"), BillHashMismatch("sha1"),
                                           BillFile("wechatpay", "trade", DAY, content,
                                                    hashlib.sha1(content).hexdigest())]

    def fetch(ctx: ServiceContext, account: object, day: date) -> BillFile:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(service, "fetch_bill_for", fetch)
    monkeypatch.setattr(fundflow_service, "fetch_and_store", lambda ctx, account, day: False)  # test_fundflow.py
    args = {"date": DAY.isoformat(), "account_id": world.account_id}
    now = world.ctx.clock.now()
    not_ready = tasks.run_day_job(world.ctx, args)
    assert isinstance(not_ready, RetryLater) and not_ready.at == now + timedelta(minutes=30)
    bad_hash = tasks.run_day_job(world.ctx, args)
    assert isinstance(bad_hash, RetryLater)
    assert tasks.run_day_job(world.ctx, args) is None
    with world.ctx.db.read() as session:
        run = session.scalars(select(ReconciliationRun)).one()
        alerts = [a.kind for a in session.scalars(select(Alert))]
    assert (run.status, run.matched_count, run.bill_sha1) == ("balanced", 1, hashlib.sha1(content).hexdigest())
    assert alerts == ["bill_hash_mismatch"]
    assert tasks.run_day_job(world.ctx, args) is None  # the stored bill is re-run, nothing fetched


def _refusing(monkeypatch: pytest.MonkeyPatch, code: str) -> list[int]:
    """The channel answers "no bill" (``code``) to every download, trade and fund-flow alike."""
    asked: list[int] = []

    def refuse(*_args: object) -> BillFile:
        asked.append(1)
        raise BillNotReady(f"{code}: 账单文件不存在", channel_code=code)

    monkeypatch.setattr(service, "fetch_bill_for", refuse)
    monkeypatch.setattr(fundflow_service, "fetch_and_store", refuse)
    return asked


def test_a_day_without_trades_is_reconciled_against_an_empty_bill(
        world: World, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    """WeChat Pay says NO_STATEMENT_EXIST for a bill not made yet and for a day without a single trade. Still
    so twelve hours after the run time, the day had none: it is reconciled against an empty bill — so a payment
    recorded here that day is found missing in the channel, where it used to be retried every 30 minutes forever
    and never looked at."""
    pay = world.payment(1_000, beijing(DAY, 10))
    _refusing(monkeypatch, "NO_STATEMENT_EXIST")
    args = {"date": DAY.isoformat(), "account_id": world.account_id}
    assert isinstance(tasks.run_day_job(world.ctx, args), RetryLater)  # at the run time: not made yet, perhaps
    clock.advance(tasks.EMPTY_DAY_AFTER)
    assert tasks.run_day_job(world.ctx, args) is None
    with world.ctx.db.read() as session:
        run = session.scalars(select(ReconciliationRun)).one()
        bill = session.scalars(select(ReconciliationBill)).one()
        diffs = [(d.klass, d.out_trade_no) for d in session.scalars(select(ReconciliationDifference))]
    assert (run.status, run.matched_count, bill.source) == ("differences", 0, tasks.NO_TRADES_SOURCE)
    assert diffs == [("missing_in_channel", pay.out_trade_no)]


def test_a_bill_still_not_published_a_day_late_is_alerted_once_and_still_awaited(
        world: World, clock: FixedClock, monkeypatch: pytest.MonkeyPatch) -> None:
    _refusing(monkeypatch, "STATEMENT_CREATING")  # being made: never taken for an empty day
    args = {"date": DAY.isoformat(), "account_id": world.account_id}
    clock.advance(tasks.OVERDUE_AFTER)
    for _ in range(2):
        assert isinstance(tasks.run_day_job(world.ctx, args), RetryLater)
    with world.ctx.db.read() as session:
        alerts = [(a.kind, a.severity) for a in session.scalars(select(Alert))]
        runs = session.scalars(select(ReconciliationRun)).all()
    assert alerts == [("bill_overdue", "high")] and runs == []
