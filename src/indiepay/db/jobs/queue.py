"""Enqueue, claim, complete and fail jobs. Pure SQL over the job table; no threads here.

Every change a worker makes to a job it claimed is conditional on still holding it (``locked_by`` is its id and
the job is ``running``): once a lease has run out another worker may have claimed the job, and the first
worker's late outcome must then change nothing. A job that ends ``dead`` is handed to the caller's ``on_dead``
(see :data:`OnDead`) in the same transaction, so that someone hears of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, bindparam, case, func, insert, null, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from indiepay.core.ids import new_id
from indiepay.db.base import UTCDateTime
from indiepay.db.jobs.models import Job
from indiepay.db.prepared import Prepared, update_where

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
DUE_NOW = "indiepay.jobs.due_now"
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 3600.0
MAX_ERROR_LENGTH = 2000


@dataclass(frozen=True)
class DeadJob:
    """A job that will not run again: what an operator needs to look into it."""

    id: str
    kind: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    last_error: str


OnDead = Callable[[Session, DeadJob], None]
"""Called in the transaction that marks a job dead (inside a savepoint: if it raises, the job is still marked
dead and the error logged). The worker's composition root raises the operator's alert here; the job table
itself knows nothing of alerts."""


JOBS: Table = Job.__table__  # type: ignore[assignment]
_INSERT_COLUMNS = ("id", "kind", "args", "unique_key", "status", "run_at", "attempts", "max_attempts", "created_at")
# Compiled once and run on the driver (see indiepay.db.prepared): building ``insert().values(...)`` per job,
# or even running a prebuilt one through SQLAlchemy, costs more than the insert itself, and jobs are on
# every payment's path.
_INSERT_JOB = Prepared(insert(JOBS), _INSERT_COLUMNS)
_FREE_KEY = Prepared(update(JOBS).where(JOBS.c.unique_key == bindparam("key"), JOBS.c.status != "queued")
                     .values(unique_key=null()))
_COMPLETE = update_where(JOBS, ("id", "locked_by", "status"), ("status", "finished_at", "locked_until", "unique_key"))
_RENEW = update_where(JOBS, ("id", "locked_by", "status"), ("locked_until",))
_RESCHEDULE = Prepared(
    update(JOBS).where(JOBS.c.id == bindparam("job_id"), JOBS.c.locked_by == bindparam("worker_id"),
                       JOBS.c.status == "running")
    .values(status="queued", run_at=bindparam("at", type_=UTCDateTime()), locked_until=null(),
            attempts=case((JOBS.c.attempts > 0, JOBS.c.attempts - 1), else_=0),
            last_error=bindparam("reason", type_=JOBS.c.last_error.type)))


def _upsert_statement(dialect: str) -> Prepared:
    """``INSERT … ON CONFLICT (unique_key) DO UPDATE SET run_at = the earlier one WHERE the holder is queued
    RETURNING id`` for one dialect: a row comes back when the job was added or folded into the queued one; none
    when the key's holder is running (not folded, so the work asked for now is not lost: see :func:`enqueue`)."""
    built: Any
    if dialect == "postgresql":
        built = postgresql.insert(JOBS)
        earlier: Any = func.least(JOBS.c.run_at, built.excluded.run_at)
    elif dialect == "sqlite":
        built = sqlite.insert(JOBS)
        earlier = func.min(JOBS.c.run_at, built.excluded.run_at)  # two arguments: the scalar min, not the aggregate
    else:  # pragma: no cover - only SQLite and PostgreSQL are supported
        raise RuntimeError(f"unsupported database {dialect}")
    built = built.on_conflict_do_update(index_elements=[JOBS.c.unique_key], set_={"run_at": earlier},
                                        where=JOBS.c.status == "queued")
    return Prepared(built.returning(JOBS.c.id), _INSERT_COLUMNS)


_UPSERTS = {dialect: _upsert_statement(dialect) for dialect in ("postgresql", "sqlite")}


def enqueue(session: Session, kind: str, args: dict[str, Any], *, now: datetime,
            run_at: datetime | None = None, unique_key: str | None = None, max_attempts: int = 12,
            first: bool = False) -> None:
    """Add a job to the caller's transaction.

    With ``unique_key``, an existing *queued* job with the same key is moved to the earlier run time instead of
    adding a second one. A *running* job's key is taken from it and given to a new queued job: the running one
    may already be past the point where it would notice what this caller changed. A done or dead job holds no
    key. ``first=True`` says the key cannot exist yet (its object was created in this transaction).

    One ``INSERT … ON CONFLICT`` statement (two more only when the key's holder is running), never "look up,
    then insert": two transactions enqueueing one key at once would both miss it, and the second's insert
    would fail its whole transaction. On PostgreSQL the second waits for the first to commit, then folds.
    """
    when = run_at or now
    values = {"id": new_id("job"), "kind": kind, "args": args, "unique_key": unique_key, "status": "queued",
              "run_at": when, "attempts": 0, "max_attempts": max_attempts, "created_at": now}
    if unique_key is None or first:
        _INSERT_JOB.execute(session, values)
    else:
        upsert = _UPSERTS[session.get_bind().dialect.name]
        # a second round only after freeing a running holder's key (whose row this transaction now holds
        # locked); a third only if another transaction's new job took the key in between and then ran
        for _ in range(3):
            if upsert.rows(session, values):
                break
            _FREE_KEY.execute(session, {"key": unique_key})
        else:  # pragma: no cover - would need a job claimed and started between two statements, three times
            raise RuntimeError(f"could not enqueue the job of key {unique_key!r}")
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


def claim(session: Session, *, worker_id: str, now: datetime, limit: int, skip_locked: bool,
          exclude: Collection[str] = (), on_dead: OnDead | None = None) -> list[Job]:
    """Lease up to ``limit`` due jobs (queued, or running with an expired lease) to ``worker_id``.

    ``exclude``: ids of jobs not to take whatever their lease says (those this process is running: see
    :mod:`.leases`). A job whose lease expired on its last attempt — its worker died or hung while running it —
    is marked dead (``on_dead`` called) instead of being run again: the interrupted run counted as an attempt,
    and a job that kills its worker must not loop forever. Returns the jobs to run.
    """
    query = (
        select(Job)
        .where(Job.status.in_(("queued", "running")), _due(now))
        .order_by(Job.run_at)
        .limit(limit)
    )
    if exclude:
        query = query.where(Job.id.not_in(list(exclude)))
    if skip_locked:
        query = query.with_for_update(skip_locked=True)
    claimed = []
    for job in session.scalars(query):
        if job.status == "running" and job.attempts >= job.max_attempts:
            _bury(session, job, now, f"the lease of worker {job.locked_by} ran out while it was running its last "
                                     f"attempt ({job.attempts} of {job.max_attempts})", on_dead)
            continue
        job.status = "running"
        job.locked_by = worker_id
        job.locked_until = now + LEASE
        job.attempts += 1
        claimed.append(job)
    session.flush()
    return claimed


def renew(session: Session, job_id: str, worker_id: str, until: datetime) -> bool:
    """Extend the lease of a job ``worker_id`` still holds to ``until``; False when it no longer holds it
    (another worker claimed it after the lease ran out, or it was released)."""
    return _RENEW.execute(session, {"locked_until": until, "where_id": job_id, "where_locked_by": worker_id,
                                    "where_status": "running"}) == 1


def backoff(attempt: int) -> timedelta:
    """Exponential backoff: 5 s, 10 s, 20 s, ... capped at an hour."""
    return timedelta(seconds=min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_CAP_SECONDS))


def complete(session: Session, job_id: str, worker_id: str, now: datetime) -> bool:
    """Mark done a job ``worker_id`` still holds (its key freed); False when it no longer holds it."""
    return _COMPLETE.execute(session, {"status": "done", "finished_at": now, "locked_until": None, "unique_key": None,
                                       "where_id": job_id, "where_locked_by": worker_id,
                                       "where_status": "running"}) == 1


def fail(session: Session, job_id: str, worker_id: str, now: datetime, error: str,
         retry_at: datetime | None = None, *, final: bool = False, on_dead: OnDead | None = None) -> str | None:
    """Record a failure of a job ``worker_id`` still holds: retry later (``retry_at`` or backoff), or mark it
    dead (``on_dead`` called) after its last attempt or when ``final``. Returns the job's new status, or None
    when the worker no longer holds it (nothing is changed then)."""
    job = session.scalars(select(Job).where(Job.id == job_id, Job.locked_by == worker_id, Job.status == "running")
                          .with_for_update()).first()
    if job is None:
        return None
    if final or job.attempts >= job.max_attempts:
        _bury(session, job, now, error, on_dead)
    else:
        job.last_error = error[:MAX_ERROR_LENGTH]
        job.locked_until = None
        job.status = "queued"
        job.run_at = retry_at or now + backoff(job.attempts)
    session.flush()
    return job.status


def _bury(session: Session, job: Job, now: datetime, error: str, on_dead: OnDead | None) -> None:
    """Mark ``job`` dead (its key freed) and tell ``on_dead``, in a savepoint: a failing callback must not keep
    the job alive, or a job whose alert cannot be raised would be retried for ever."""
    job.status, job.finished_at, job.unique_key = "dead", now, None
    job.locked_by, job.locked_until = None, None
    job.last_error = error[:MAX_ERROR_LENGTH]
    log.error("job %s (%s) is dead after %d of %d attempts: %s", job.id, job.kind, job.attempts, job.max_attempts,
              job.last_error)
    if on_dead is None:
        return
    dead = DeadJob(id=job.id, kind=job.kind, args=dict(job.args), attempts=job.attempts,
                   max_attempts=job.max_attempts, last_error=job.last_error)
    session.flush()
    try:
        with session.begin_nested():
            on_dead(session, dead)
    except Exception:
        log.exception("could not report dead job %s (%s)", job.id, job.kind)


def release_dead(session: Session, machine: str, is_dead: Callable[[str], bool], now: datetime,
                 on_dead: OnDead | None = None) -> int:
    """Give back the running jobs of workers of ``machine`` that ``is_dead`` says are gone (see
    :mod:`indiepay.db.jobs.owners`): each is due again now, its interrupted run counted as an attempt — a job
    that keeps killing its worker ends ``dead`` (``on_dead`` called) after its last attempt instead of looping.
    Returns how many."""
    ours = Job.locked_by.startswith(machine + ":", autoescape=True)
    running = list(session.scalars(select(Job).where(Job.status == "running", ours)))
    released = 0
    for job in running:
        owner = job.locked_by or ""
        if not is_dead(owner):
            continue
        error = f"worker {owner} stopped while running it"
        if job.attempts >= job.max_attempts:
            _bury(session, job, now, error, on_dead)
        else:
            job.last_error = error
            job.locked_by, job.locked_until = None, None
            job.status, job.run_at = "queued", now
        released += 1
    session.flush()
    return released


def reschedule(session: Session, job_id: str, worker_id: str, at: datetime, reason: str) -> bool:
    """Put a job ``worker_id`` still holds back for later without counting the run as a failed attempt;
    False when it no longer holds it."""
    return _RESCHEDULE.execute(session, {"job_id": job_id, "worker_id": worker_id, "at": at,
                                         "reason": reason[:MAX_ERROR_LENGTH]}) == 1
