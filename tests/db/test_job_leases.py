"""A job runs in one worker at a time: a claim waiting in a batch is checked before it starts, a running job's
lease is renewed, and a worker that lost its job records nothing. Slow handlers are simulated by moving a
fixed clock, never by sleeping."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs import queue
from indiepay.db.jobs.leases import Held, LeaseKeeper
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater, Worker

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
ELSEWHERE = "other-host/1:4242:w_other"  # a worker of another process


def _enqueue(db: Database, count: int = 1) -> None:
    """``count`` jobs of kind ``k``, due in the order of their ``n``."""
    with db.transaction() as session:
        for n in range(count):
            queue.enqueue(session, "k", {"n": n}, now=T0, run_at=T0 - timedelta(seconds=count - n))


def _jobs(db: Database) -> list[Job]:
    with db.read() as session:
        return list(session.query(Job).order_by(Job.run_at))


def test_jobs_waiting_in_a_batch_past_their_lease_run_once(db: Database) -> None:
    """Worker A claims three jobs under one lease; the first takes longer than the lease, so B claims the other
    two meanwhile. A must not run them after it, nor may B take the one A is running."""
    clock = FixedClock(T0)
    runs: list[tuple[str, int]] = []
    workers: dict[str, Worker] = {}

    def handler(name: str) -> Any:
        def run(args: dict[str, Any]) -> None:
            runs.append((name, args["n"]))
            if name == "a" and args["n"] == 0:
                clock.advance(queue.LEASE + timedelta(minutes=1))
                assert workers["b"].run_once() == 2
        return run

    _enqueue(db, 3)
    workers["a"] = Worker(db, clock, {"k": handler("a")}, batch=3)
    workers["b"] = Worker(db, clock, {"k": handler("b")}, batch=3)
    assert workers["a"].run_once() == 3
    assert sorted(runs) == [("a", 0), ("b", 1), ("b", 2)]
    assert [job.status for job in _jobs(db)] == ["done"] * 3


def test_a_job_taken_over_by_another_process_while_waiting_in_the_batch_is_not_run(db: Database) -> None:
    clock = FixedClock(T0)
    ran: list[int] = []

    def handler(args: dict[str, Any]) -> None:
        ran.append(args["n"])
        if args["n"] == 0:  # slow: meanwhile another process claims and finishes job 1 (its lease ran out)
            clock.advance(queue.LEASE)
            with db.transaction() as session:
                [taken] = queue.claim(session, worker_id=ELSEWHERE, now=clock.now() + timedelta(seconds=1), limit=1,
                                      skip_locked=db.is_postgres, exclude={first.id})
                queue.complete(session, taken.id, ELSEWHERE, clock.now())

    _enqueue(db, 2)
    first = _jobs(db)[0]
    assert Worker(db, clock, {"k": handler}, batch=2).run_once() == 2
    assert ran == [0]
    assert [job.status for job in _jobs(db)] == ["done", "done"]


def test_a_running_job_is_not_claimed_again_after_its_lease(db: Database) -> None:
    clock = FixedClock(T0)
    runs: list[str] = []
    other: dict[str, Worker] = {}

    def slow(args: dict[str, Any]) -> None:
        runs.append("run")
        if len(runs) == 1:
            clock.advance(queue.LEASE + timedelta(seconds=1))
            assert other["b"].run_once() == 0

    _enqueue(db)
    other["b"] = Worker(db, clock, {"k": slow})
    assert Worker(db, clock, {"k": slow}).run_once() == 1
    assert runs == ["run"]
    [job] = _jobs(db)
    assert job.status == "done" and job.attempts == 1


def test_the_lease_of_a_running_job_is_renewed(db: Database) -> None:
    clock = FixedClock(T0)
    keeper = LeaseKeeper(every=3600)  # its thread stays out of the way: the test renews
    seen: list[datetime | None] = []

    def slow(args: dict[str, Any]) -> None:
        clock.advance(timedelta(minutes=4))
        keeper.renew_due(all_now=True)
        seen.extend(job.locked_until for job in _jobs(db))

    _enqueue(db)
    Worker(db, clock, {"k": slow}, leases=keeper).run_once()
    assert seen == [T0 + timedelta(minutes=4) + queue.LEASE]
    assert keeper.running() == frozenset()


class _SignallingKeeper(LeaseKeeper):
    def __init__(self) -> None:
        super().__init__(every=0.001)
        self.renewed = threading.Event()

    def renew(self, held: Held) -> bool:
        kept = super().renew(held)
        self.renewed.set()
        return kept


def test_the_heartbeat_thread_renews_while_the_handler_runs_and_then_stops(db: Database) -> None:
    clock = FixedClock(T0)
    keeper = _SignallingKeeper()
    threads: list[threading.Thread | None] = []

    def waits_for_a_heartbeat(args: dict[str, Any]) -> None:
        clock.advance(timedelta(minutes=3))
        assert keeper.renewed.wait(30), "no renewal while the handler ran"
        threads.append(keeper._thread)

    _enqueue(db)
    Worker(db, clock, {"k": waits_for_a_heartbeat}, leases=keeper).run_once()
    [job] = _jobs(db)
    assert job.status == "done"
    [thread] = threads
    assert thread is not None
    thread.join(30)  # it ends by itself once no job is running
    assert not thread.is_alive()


@pytest.mark.parametrize("outcome", ["done", "retry_later", "raises"])
def test_a_worker_that_lost_its_job_records_no_outcome(db: Database, outcome: str) -> None:
    """The lease ran out (a stalled process) and another process's worker claimed the job: the first worker's
    renewal and its outcome, whatever it is, change nothing."""
    clock = FixedClock(T0)
    keeper = LeaseKeeper(every=3600)  # its thread stays out of the way: the test renews
    taken_until: list[datetime] = []

    def stalled(args: dict[str, Any]) -> RetryLater | None:
        clock.advance(queue.LEASE + timedelta(seconds=1))
        with db.transaction() as session:
            [taken] = queue.claim(session, worker_id=ELSEWHERE, now=clock.now(), limit=1, skip_locked=db.is_postgres)
            taken_until.append(taken.locked_until)  # type: ignore[arg-type]
        clock.advance(timedelta(seconds=1))
        keeper.renew_due(all_now=True)
        if outcome == "raises":
            raise RuntimeError("failed after losing it")
        return RetryLater(at=clock.now()) if outcome == "retry_later" else None

    _enqueue(db)
    assert Worker(db, clock, {"k": stalled}, leases=keeper).run_once() == 1
    [job] = _jobs(db)
    assert (job.status, job.locked_by, job.locked_until, job.attempts, job.last_error) == (
        "running", ELSEWHERE, taken_until[0], 2, None)
