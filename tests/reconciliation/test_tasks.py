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
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater
from indiepay.reconciliation import fundflow_service, service, tasks
from indiepay.reconciliation.models import ReconciliationRun
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
