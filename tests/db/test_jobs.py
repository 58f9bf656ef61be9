"""The durable job queue on SQLite and PostgreSQL: enqueue with the change, claim once, retry, lease."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs import queue
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater, Worker

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)



def test_job_enqueued_in_a_rolled_back_transaction_never_runs(db: Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        queue.enqueue(session, "k", {"n": 1}, now=T0)
        raise RuntimeError("the state change failed")
    with db.transaction() as session:
        assert session.query(Job).count() == 0


def test_failures_back_off_then_die(db: Database) -> None:
    clock = FixedClock(T0)
    calls: list[int] = []

    def flaky(args: dict[str, Any]) -> None:
        calls.append(args["n"])
        raise ValueError("boom")

    with db.transaction() as session:
        queue.enqueue(session, "flaky", {"n": 7}, now=T0, max_attempts=3)
    worker = Worker(db, clock, {"flaky": flaky})
    assert worker.run_once() == 1
    assert worker.run_once() == 0  # backing off
    clock.advance(timedelta(seconds=6))
    assert worker.run_once() == 1
    clock.advance(timedelta(seconds=11))
    assert worker.run_once() == 1
    clock.advance(timedelta(hours=2))
    assert worker.run_once() == 0
    with db.transaction() as session:
        job = session.query(Job).one()
        assert job.status == "dead" and job.attempts == 3 and "boom" in (job.last_error or "")
    assert calls == [7, 7, 7]


def test_retry_later_does_not_use_up_attempts(db: Database) -> None:
    clock = FixedClock(T0)

    def later(args: dict[str, Any]) -> RetryLater:
        return RetryLater(at=clock.now() + timedelta(seconds=30))

    with db.transaction() as session:
        queue.enqueue(session, "later", {}, now=T0, max_attempts=2)
    worker = Worker(db, clock, {"later": later})
    for _ in range(5):
        assert worker.run_once() == 1
        clock.advance(timedelta(seconds=31))
    with db.transaction() as session:
        job = session.query(Job).one()
        assert job.status == "queued" and job.attempts == 0


def test_expired_lease_is_claimed_again(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        queue.enqueue(session, "k", {}, now=T0)
    with db.transaction() as session:
        assert len(queue.claim(session, worker_id="dead-worker", now=T0, limit=5, skip_locked=db.is_postgres)) == 1
    with db.transaction() as session:
        assert queue.claim(session, worker_id="w2", now=T0 + timedelta(minutes=1), limit=5,
                           skip_locked=db.is_postgres) == []
    ran: list[str] = []
    clock.advance(timedelta(minutes=6))
    Worker(db, clock, {"k": lambda args: ran.append("x")}).run_once()
    assert ran == ["x"]


def test_unique_key_keeps_one_queued_job(db: Database) -> None:
    with db.transaction() as session:
        queue.enqueue(session, "k", {}, now=T0, run_at=T0 + timedelta(hours=1), unique_key="u")
        queue.enqueue(session, "k", {}, now=T0, run_at=T0 + timedelta(minutes=1), unique_key="u")
    with db.transaction() as session:
        job = session.query(Job).one()
        assert job.run_at == T0 + timedelta(minutes=1)


def test_several_workers_run_each_job_exactly_once(db: Database) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        for n in range(200):
            queue.enqueue(session, "count", {"n": n}, now=T0)
    seen: list[int] = []
    lock = threading.Lock()

    def count(args: dict[str, Any]) -> None:
        with lock:
            seen.append(args["n"])

    workers = [Worker(db, clock, {"count": count}, batch=5) for _ in range(4)]
    threads = [threading.Thread(target=w.drain, kwargs={"max_rounds": 200}) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(seen) == list(range(200))
