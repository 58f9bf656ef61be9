"""A job that will not run again is never silent: every way to ``dead`` tells ``on_dead`` in the same
transaction, and the platform's worker raises a ``job_dead`` operator alert there. A job whose lease runs out
on its last attempt is dead, not run a further time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from indiepay.alerts.models import Alert
from indiepay.alerts.service import DISPATCH_JOB
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs import queue
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.queue import DeadJob
from indiepay.db.jobs.worker import Worker
from indiepay.runtime import job_dead_alerts

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


class Recorder:
    def __init__(self) -> None:
        self.dead: list[DeadJob] = []

    def __call__(self, session: Session, job: DeadJob) -> None:
        self.dead.append(job)


def _job(db: Database, kind: str = "k", **kwargs: Any) -> Job:
    with db.transaction() as session:
        queue.enqueue(session, kind, {"payment_id": "pay_1"}, now=T0, **kwargs)
    with db.read() as session:
        return session.query(Job).filter(Job.kind == kind).one()


def _reload(db: Database, job_id: str) -> Job:
    with db.read() as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def test_an_unknown_kind_is_dead_at_once(db: Database) -> None:
    clock, dead = FixedClock(T0), Recorder()
    job = _job(db, "no.such.kind")
    assert Worker(db, clock, {}, on_dead=dead).run_once() == 1
    job = _reload(db, job.id)
    assert job.status == "dead" and job.attempts == 1 and job.finished_at == T0
    assert [(d.id, d.kind, d.attempts, d.last_error) for d in dead.dead] == [
        (job.id, "no.such.kind", 1, "no handler for job kind 'no.such.kind'")]


def test_a_handler_failing_every_attempt_ends_dead_and_told(db: Database) -> None:
    clock, dead = FixedClock(T0), Recorder()

    def broken(args: dict[str, Any]) -> None:
        raise KeyError("order_id")

    job = _job(db, max_attempts=2)
    worker = Worker(db, clock, {"k": broken}, on_dead=dead)
    assert worker.run_once() == 1
    assert dead.dead == []
    clock.advance(timedelta(minutes=1))
    assert worker.run_once() == 1
    assert _reload(db, job.id).status == "dead"
    assert [(d.id, d.attempts, d.last_error) for d in dead.dead] == [(job.id, 2, "KeyError: 'order_id'")]


def test_a_lease_that_runs_out_on_the_last_attempt_makes_the_job_dead_not_run_again(db: Database) -> None:
    clock, dead, ran = FixedClock(T0), Recorder(), []
    job = _job(db, max_attempts=2)
    with db.transaction() as session:  # two workers of other machines claimed it, and died running it
        for at in (T0, T0 + queue.LEASE + timedelta(seconds=1)):
            queue.claim(session, worker_id="gone:1:w", now=at, limit=1, skip_locked=db.is_postgres)
    clock.advance(2 * queue.LEASE + timedelta(seconds=2))
    assert Worker(db, clock, {"k": lambda args: ran.append(args)}, on_dead=dead).run_once() == 0
    job = _reload(db, job.id)
    assert ran == [] and job.status == "dead" and job.attempts == 2 and job.locked_by is None
    assert [(d.id, d.attempts) for d in dead.dead] == [(job.id, 2)]
    assert "ran out while it was running its last attempt (2 of 2)" in dead.dead[0].last_error


def test_a_job_that_killed_its_worker_on_the_last_attempt_is_told_when_released(db: Database) -> None:
    clock, dead = FixedClock(T0), Recorder()
    worker = Worker(db, clock, {}, on_dead=dead)
    job = _job(db, max_attempts=1)
    with db.transaction() as session:
        queue.claim(session, worker_id=f"{worker.machine}:1:w_gone", now=T0, limit=1, skip_locked=db.is_postgres)
    with db.transaction() as session:
        assert queue.release_dead(session, worker.machine, lambda owner: True, T0, on_dead=dead) == 1
    assert _reload(db, job.id).status == "dead"
    assert [(d.id, d.last_error) for d in dead.dead] == [(job.id, f"worker {worker.machine}:1:w_gone stopped while "
                                                                  "running it")]


def test_a_failing_on_dead_still_leaves_the_job_dead(db: Database) -> None:
    def broken(session: Session, job: DeadJob) -> None:
        session.add(Job(id="not-a-valid-row"))  # fails on flush, inside the savepoint
        session.flush()

    job = _job(db, "no.such.kind")
    assert Worker(db, FixedClock(T0), {}, on_dead=broken).run_once() == 1
    assert _reload(db, job.id).status == "dead"


def _alerts(db: Database) -> list[Alert]:
    with db.read() as session:
        return list(session.query(Alert))


def test_the_platform_raises_one_job_dead_alert_per_dead_job(db: Database) -> None:
    clock = FixedClock(T0)
    job = _job(db, "no.such.kind")
    worker = Worker(db, clock, {}, on_dead=job_dead_alerts(clock))
    worker.run_once()
    [alert] = _alerts(db)
    assert (alert.kind, alert.severity, alert.merchant_id, alert.dedupe_key) == (
        "job_dead", "high", None, f"job_dead:{job.id}")
    assert alert.details == {"job_id": job.id, "kind": "no.such.kind", "args": {"payment_id": "pay_1"},
                             "attempts": 1, "max_attempts": 12,
                             "last_error": "no handler for job kind 'no.such.kind'"}
    with db.read() as session:  # its delivery is queued with it
        assert session.query(Job).filter(Job.kind == DISPATCH_JOB).count() == 1
    with db.transaction() as session:  # the same job reported again (a retry of the report) is one incident
        job_dead_alerts(clock)(session, DeadJob(job.id, job.kind, {}, 1, 12, "again"))
    assert len(_alerts(db)) == 1


@pytest.mark.parametrize("about_a_dead_job", [True, False])
def test_a_dead_alert_delivery_is_alerted_once_not_in_a_loop(db: Database, about_a_dead_job: bool) -> None:
    clock = FixedClock(T0)
    on_dead = job_dead_alerts(clock)
    with db.transaction() as session:
        if about_a_dead_job:
            on_dead(session, DeadJob("job_x", "refund.sync", {}, 12, 12, "boom"))
        else:
            from indiepay.alerts.service import raise_alert

            raise_alert(session, clock, kind="late_payment", severity="high", message="m", dedupe_key="late:1")
    with db.read() as session:
        dispatch = session.query(Job).filter(Job.kind == DISPATCH_JOB).one()
    with db.transaction() as session:
        on_dead(session, DeadJob(dispatch.id, DISPATCH_JOB, dict(dispatch.args), 12, 12, "SMTP down"))
    assert len(_alerts(db)) == (1 if about_a_dead_job else 2)
