"""The fee write-back as a job after the run: queued with the run, written in batches that commit one by
one, resumable after a crash between batches, never posting a ledger correction twice — not across a
crash, a re-run of the day, nor a re-run that replaces the fee set while a job is half-way through it
(SQLite and PostgreSQL)."""

from __future__ import annotations

import io
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from indiepay.context import ServiceContext
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import Worker
from indiepay.ledger.models import LedgerEntry
from indiepay.payments.models import Payment
from indiepay.reconciliation import fees, repository, rules, service, tasks
from indiepay.reconciliation.models import ReconciliationFees, ReconciliationRun
from indiepay.reconciliation.schemas import run_out
from indiepay.runtime import job_handlers
from indiepay.settlements.payouts import UnconfiguredPayoutProvider
from tests.reconciliation.world import DAY, Local, World, beijing, fee_yuan

EXTRA = Decimal("0.05000")  # 5 fen over the booked fee: beyond rounding, so the ledger is corrected


class Crash(Exception):
    pass


def _day(world: World, count: int = 5) -> tuple[list[Local], bytes]:
    """``count`` live payments whose bill fee is 5 fen above the booked one."""
    items = [world.payment(1_000 * (n + 1), beijing(DAY, 9 + n)) for n in range(count)]
    rows = [world.wechat_row(item, fee=fee_yuan(item.amount) + EXTRA) for item in items]
    return items, world.wechat_bill(rows)


def _expected(items: list[Local]) -> dict[str, int]:
    return {item.id: int((fee_yuan(item.amount) + EXTRA) * 100) for item in items}


def _fees(ctx: ServiceContext) -> dict[str, int | None]:
    with ctx.db.read() as session:
        return {pid: fee for pid, fee in session.execute(select(Payment.id, Payment.channel_fee))}


def _corrections(ctx: ServiceContext) -> list[str]:
    with ctx.db.read() as session:
        return sorted(session.scalars(select(LedgerEntry.event_key).where(
            LedgerEntry.event_key.like("fee_correction:%"))))


def _state(ctx: ServiceContext, run_id: str) -> tuple[ReconciliationRun, ReconciliationFees]:
    with ctx.db.read() as session:
        run, row = session.get(ReconciliationRun, run_id), session.get(ReconciliationFees, run_id)
    assert run is not None and row is not None
    return run, row


def _run(world: World, content: bytes) -> service.RunResult:
    return service.import_bill(world.ctx, world.account_id, io.BytesIO(content), day=DAY, apply_fees=False)


def test_the_run_only_queues_the_fees_and_the_job_writes_them(world: World) -> None:
    items, bill = _day(world, 3)
    result = _run(world, bill)
    assert sorted(d.klass for d in result.differences) == [rules.FEE_MISMATCH] * 3  # found by the run itself
    assert set(_fees(world.ctx).values()) == {None} and _corrections(world.ctx) == []
    with world.ctx.db.read() as session:
        jobs = list(session.scalars(select(Job).where(Job.kind == fees.FEES_JOB)))
        out = run_out(result.run, [], repository.fee_sets(session, [result.run.id])[result.run.id])
    assert [(j.args, j.status) for j in jobs] == [({"run_id": result.run.id}, "queued")]
    assert (out.fee_payments, out.fees_pending, out.fees_applied_at) == (3, 3, None)
    handlers = job_handlers(world.ctx, UnconfiguredPayoutProvider())
    assert fees.FEES_JOB == tasks.FEES_JOB and tasks.FEES_JOB in handlers
    Worker(world.ctx.db, world.ctx.clock, handlers).drain()
    with world.ctx.db.read() as session:
        assert list(session.scalars(select(Job.status).where(Job.kind == fees.FEES_JOB))) == ["done"]
    assert _fees(world.ctx) == _expected(items)
    assert _corrections(world.ctx) == sorted(f"fee_correction:{item.id}" for item in items)
    run, row = _state(world.ctx, result.run.id)
    assert run.fee_corrections == 3 and row.applied_at is not None and row.applied_count == 3
    out = run_out(run, [], row)
    assert (out.fees_pending, out.fees_applied_at) == (0, world.ctx.clock.now())
    with world.ctx.db.read() as session:
        assert session.scalar(select(ReconciliationFees.content).where(ReconciliationFees.run_id == run.id)) is None


def test_each_batch_commits_on_its_own(world: World) -> None:
    _items, bill = _day(world, 5)
    run_id = _run(world, bill).run.id
    seen: list[tuple[int, int, int]] = []

    def after(applied: fees.Applied) -> None:  # what another connection sees between batches
        written = sum(1 for fee in _fees(world.ctx).values() if fee is not None)
        seen.append((applied.batches, written, len(_corrections(world.ctx))))

    applied = fees.apply(world.ctx, run_id, batch_size=2, after_batch=after)
    assert seen == [(1, 2, 2), (2, 4, 4), (3, 5, 5)]
    assert (applied.batches, applied.payments, applied.corrections, applied.done) == (3, 5, 5, True)
    assert applied.longest_s > 0
    assert _state(world.ctx, run_id)[1].batches == 3


def test_a_crash_between_batches_resumes_without_posting_twice(world: World) -> None:
    items, bill = _day(world, 5)
    run_id = _run(world, bill).run.id

    def crash(applied: fees.Applied) -> None:
        if applied.batches == 2:
            raise Crash

    with pytest.raises(Crash):
        fees.apply(world.ctx, run_id, batch_size=2, after_batch=crash)
    assert sum(1 for fee in _fees(world.ctx).values() if fee is not None) == 4
    run, row = _state(world.ctx, run_id)
    assert (row.applied_count, row.corrections, run.fee_corrections, row.applied_at) == (4, 4, 4, None)
    again = fees.apply(world.ctx, run_id, batch_size=2)
    assert (again.batches, again.payments, again.corrections, again.done) == (1, 1, 1, True)
    assert fees.apply(world.ctx, run_id).batches == 0  # applied: nothing more
    assert _fees(world.ctx) == _expected(items)
    assert _corrections(world.ctx) == sorted(f"fee_correction:{item.id}" for item in items)
    assert _state(world.ctx, run_id)[0].fee_corrections == 5


def test_a_rerun_of_the_day_replaces_the_set_without_posting_twice(world: World) -> None:
    items, bill = _day(world, 5)
    first = _run(world, bill)
    rerun: list[service.RunResult] = []

    def rerun_midway(applied: fees.Applied) -> None:  # the day is re-run while the job is half-way
        if applied.batches == 1 and not rerun:
            rerun.append(service.run_day(world.ctx, world.account_id, DAY, apply_fees=False))

    old = fees.apply(world.ctx, first.run.id, batch_size=2, after_batch=rerun_midway)
    assert old.superseded and not old.done and old.batches == 1
    run, row = _state(world.ctx, first.run.id)
    assert row.generation == run.executions == 2 and row.fee_count == 5 and row.applied_count == 0
    assert [d.id for d in rerun[0].differences] == [d.id for d in first.differences]
    new = fees.apply(world.ctx, first.run.id, batch_size=2)
    assert new.done and new.corrections == 3  # the two corrected by the first batch are kept, not re-posted
    assert _fees(world.ctx) == _expected(items)
    assert _corrections(world.ctx) == sorted(f"fee_correction:{item.id}" for item in items)
    third = service.run_day(world.ctx, world.account_id, DAY)  # applies at once: nothing is left to write
    assert [d.id for d in third.differences] == [d.id for d in first.differences]
    run, row = _state(world.ctx, first.run.id)
    assert (row.fee_count, row.applied_count, third.run.fee_corrections) == (5, 5, 0)
    with world.ctx.db.read() as session:
        entries = session.scalar(select(func.count()).select_from(LedgerEntry).where(
            LedgerEntry.event_key.like("fee_correction:%")))
    assert entries == 5


def test_the_daily_job_leaves_the_fees_to_the_fee_job(world: World) -> None:
    items, bill = _day(world, 2)
    _run(world, bill)  # stores the bill (its fees left pending too)
    assert tasks.run_day_job(world.ctx, {"date": DAY.isoformat(), "account_id": world.account_id}) is None
    assert set(_fees(world.ctx).values()) == {None}
    with world.ctx.db.read() as session:
        queued = list(session.scalars(select(Job.args).where(Job.kind == fees.FEES_JOB, Job.status == "queued")))
    assert queued == [{"run_id": rules.run_id(world.account_id, DAY)}]  # one job per run, however often run
    assert tasks.run_fees_job(world.ctx, queued[0]) is None
    assert _fees(world.ctx) == _expected(items)
    assert len(_corrections(world.ctx)) == 2


def test_a_day_with_no_fee_to_write_queues_no_job(world: World) -> None:
    item = world.payment(1_000, beijing(DAY, 9))
    result = _run(world, world.wechat_bill([world.wechat_row(item, out_trade_no="SOMEONE-ELSE")]))
    _run_row, row = _state(world.ctx, result.run.id)
    assert (row.fee_count, row.applied_at) == (0, world.ctx.clock.now())
    with world.ctx.db.read() as session:
        assert list(session.scalars(select(Job).where(Job.kind == fees.FEES_JOB))) == []

