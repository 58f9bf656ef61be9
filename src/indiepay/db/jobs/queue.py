"""Enqueue, claim, complete and fail jobs. Pure SQL over the job table; no threads here."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, insert, or_, select, update
from sqlalchemy.orm import Session

from indiepay.core.ids import new_id
from indiepay.db.base import UTCDateTime
from indiepay.db.jobs.models import Job
from indiepay.db.prepared import Prepared

LEASE = timedelta(minutes=5)
DUE_NOW = "indiepay.jobs.due_now"
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0


JOBS: Table = Job.__table__  # type: ignore[assignment]
# Compiled once and run on the driver (see indiepay.db.prepared): building ``insert().values(...)`` per job,
# or even running a prebuilt one through SQLAlchemy, costs more than the insert itself, and jobs are on
# every payment's path.
_INSERT_JOB = Prepared(insert(JOBS), ("id", "kind", "args", "unique_key", "status", "run_at", "attempts",
                                      "max_attempts", "created_at"))


def enqueue(session: Session, kind: str, args: dict[str, Any], *, now: datetime,
            run_at: datetime | None = None, unique_key: str | None = None, max_attempts: int = 12,
            first: bool = False) -> None:
    """Add a job to the caller's transaction. With ``unique_key``, an existing *queued* job with the same
    key is moved to the earlier run time instead of adding a second one; ``first=True`` says the key
    cannot exist yet (its object was created in this transaction), which saves the lookup."""
    when = run_at or now
    if unique_key is not None and not first:
        existing = session.scalars(select(Job).where(Job.unique_key == unique_key)).first()
        if existing is not None:
            if existing.status == "queued":
                existing.run_at = min(existing.run_at, when)
                return
            existing.unique_key = None  # the old one ran or is running: free the key for the new job
            session.flush()
    _INSERT_JOB.execute(session, {"id": new_id("job"), "kind": kind, "args": args, "unique_key": unique_key,
                                  "status": "queued", "run_at": when, "attempts": 0, "max_attempts": max_attempts,
                                  "created_at": now})
    if when <= now:
        session.info[DUE_NOW] = True  # the committer may wake an in-process worker


def _due(now: Any) -> Any:
    return or_((Job.status == "queued") & (Job.run_at <= now),
               (Job.status == "running") & (Job.locked_until < now))


_ANY_DUE = (select(Job.id).where(Job.status.in_(("queued", "running")), _due(bindparam("now", type_=UTCDateTime())))
            .limit(1))


def any_due(session: Session, now: datetime) -> bool:
    """Is any job claimable now? (A cheap read that lets idle workers skip the write transaction; the
    statement is built once because idle workers ask often.)"""
    return session.scalars(_ANY_DUE, {"now": now}).first() is not None


def claim(session: Session, *, worker_id: str, now: datetime, limit: int, skip_locked: bool) -> list[Job]:
    """Lease up to ``limit`` due jobs (queued, or running with an expired lease) to ``worker_id``."""
    query = (
        select(Job)
        .where(Job.status.in_(("queued", "running")), _due(now))
        .order_by(Job.run_at)
        .limit(limit)
    )
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    jobs = list(session.scalars(query))
    for job in jobs:
        job.status = "running"
        job.locked_by = worker_id
        job.locked_until = now + LEASE
        job.attempts += 1
    session.flush()
    return jobs


def backoff(attempt: int) -> timedelta:
    """Exponential backoff: 5 s, 10 s, 20 s, ... capped at an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_CAP_SECONDS))


def complete(session: Session, job_id: str, worker_id: str, now: datetime) -> None:
    session.execute(update(Job).where(Job.id == job_id, Job.locked_by == worker_id)
                    .values(status="done", finished_at=now, locked_until=None, unique_key=None))


def fail(session: Session, job_id: str, worker_id: str, now: datetime, error: str,
         retry_at: datetime | None = None) -> None:
    """Record a failure: retry later (``retry_at`` or backoff) or mark dead after the last attempt."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker_id:
        return
    job.last_error = error[:2000]
    job.locked_until = None
    if job.attempts >= job.max_attempts:
        job.status = "dead"
        job.finished_at = now
        job.unique_key = None
    else:
        job.status = "queued"
        job.run_at = retry_at or now + backoff(job.attempts)
    session.flush()


def release_dead(session: Session, machine: str, is_dead: Callable[[str], bool], now: datetime) -> int:
    """Give back the running jobs of workers of ``machine`` that ``is_dead`` says are gone (see
    :mod:`indiepay.db.jobs.owners`): each is due again now, its interrupted run counted as an attempt — a job
    that keeps killing its worker ends ``dead`` after its last attempt instead of looping. Returns how many."""
    ours = Job.locked_by.startswith(machine + ":", autoescape=True)
    running = list(session.scalars(select(Job).where(Job.status == "running", ours)))
    released = 0
    for job in running:
        owner = job.locked_by or ""
        if not is_dead(owner):
            continue
        job.last_error = f"worker {owner} stopped while running it"
        job.locked_by, job.locked_until = None, None
        if job.attempts >= job.max_attempts:
            job.status, job.finished_at, job.unique_key = "dead", now, None
        else:
            job.status, job.run_at = "queued", now
        released += 1
    session.flush()
    return released


def reschedule(session: Session, job_id: str, worker_id: str, at: datetime, reason: str) -> None:
    """Put a job back for later without counting the run as a failed attempt."""
    job = session.get(Job, job_id)
    if job is None or job.locked_by != worker_id:
        return
    job.status = "queued"
    job.run_at = at
    job.attempts = max(job.attempts - 1, 0)
    job.locked_until = None
    job.last_error = reason[:2000]
    session.flush()
