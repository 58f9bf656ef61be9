"""The durable job queue on SQLite and PostgreSQL: enqueue with the change, claim once, retry, lease."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

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


def test_unique_key_of_a_running_job_goes_to_a_new_queued_job_and_a_finished_one_holds_none(db: Database) -> None:
    clock = FixedClock(T0)
    keyed: list[str | None] = []

    def handler(args: dict[str, Any]) -> None:
        if args["n"] == 1:  # while the first run runs, the work is asked for again: twice
            with db.transaction() as session:
                queue.enqueue(session, "k", {"n": 2}, now=T0, run_at=T0 + timedelta(hours=1), unique_key="u")
                queue.enqueue(session, "k", {"n": 3}, now=T0, run_at=T0 + timedelta(minutes=1), unique_key="u")
            with db.read() as session:
                keyed.extend(job.unique_key for job in session.query(Job).order_by(Job.args["n"].as_integer()))

    with db.transaction() as session:
        queue.enqueue(session, "k", {"n": 1}, now=T0, unique_key="u")
    assert Worker(db, clock, {"k": handler}).run_once() == 1
    assert keyed == [None, "u"]  # the running job gave its key up; the second request folded into the new job
    with db.read() as session:
        jobs = {job.args["n"]: job for job in session.query(Job)}
    assert set(jobs) == {1, 2} and jobs[1].status == "done"
    assert jobs[2].status == "queued" and jobs[2].run_at == T0 + timedelta(minutes=1)
    clock.advance(timedelta(minutes=1))
    assert Worker(db, clock, {"k": lambda args: None}).run_once() == 1
    with db.transaction() as session:  # done: the key is free again
        queue.enqueue(session, "k", {"n": 4}, now=clock.now(), unique_key="u")
    with db.read() as session:
        assert session.query(Job).filter(Job.unique_key == "u").one().args == {"n": 4}


def _wait_until_blocked(pg: Database, count: int) -> None:
    """Until ``count`` sessions of this database wait for a lock (a row's or the unique index's)."""
    deadline = time.monotonic() + 30
    while True:
        with pg.engine.connect() as connection:
            waiting = connection.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar_one()
        if waiting >= count:
            return
        assert time.monotonic() < deadline, "the second transaction never waited for the first"
        time.sleep(0.01)


@pytest.mark.postgres
@pytest.mark.parametrize("holder", [None, "queued", "running"])
def test_concurrent_transactions_enqueueing_one_key_fold_into_one_job(pg: Database, holder: str | None) -> None:
    """Two transactions enqueue one key at once (two redeliveries of one event): the second waits for the first
    and folds into its job; neither fails. Also when the key is held by a queued or a running job."""
    if holder is not None:
        with pg.transaction() as session:
            queue.enqueue(session, "k", {"n": 0}, now=T0, run_at=T0 + timedelta(hours=1), unique_key="u")
        if holder == "running":
            with pg.transaction() as session:
                assert len(queue.claim(session, worker_id="w", now=T0 + timedelta(hours=1), limit=1,
                                       skip_locked=True)) == 1
    errors: list[BaseException] = []
    first_in, release_first = threading.Event(), threading.Event()

    def enqueue(n: int, hold: bool) -> None:
        try:
            with pg.transaction() as session:
                queue.enqueue(session, "k", {"n": n}, now=T0, run_at=T0 + timedelta(minutes=n), unique_key="u")
                if hold:
                    first_in.set()
                    assert release_first.wait(30)
        except BaseException as exc:
            errors.append(exc)
            first_in.set()

    first = threading.Thread(target=enqueue, args=(1, True))
    second = threading.Thread(target=enqueue, args=(2, False))
    first.start()
    assert first_in.wait(30)
    second.start()
    try:
        _wait_until_blocked(pg, 1)
    finally:
        release_first.set()
        first.join()
        second.join()
    assert errors == []
    with pg.read() as session:
        jobs = {job.args["n"]: job for job in session.query(Job)}
    keyed = [n for n, job in jobs.items() if job.unique_key == "u"]
    assert len(keyed) == 1 and jobs[keyed[0]].status == "queued"
    assert jobs[keyed[0]].run_at == T0 + timedelta(minutes=1)
    assert len(jobs) == (2 if holder == "running" else 1)


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
