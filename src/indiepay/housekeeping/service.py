"""Housekeeping's rules in action: pruning operational rows past use, and the operator's dead jobs.

Pruning runs one short transaction per batch (:data:`.rules.BATCH` rows of one kind), the oldest rows first,
until nothing of a kind is left past its period: a first run on a platform that has never pruned may delete
millions of rows, and every payment waits on SQLite's single write lock meanwhile, so no transaction may hold
it for long, and the lock is left free between batches. Stopping half-way (a crash, a deploy) loses nothing:
the next run goes on where it stopped.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from indiepay.audit import service as audit
from indiepay.core.clock import Clock
from indiepay.core.errors import Conflict, InvalidRequest, NotFound
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.housekeeping import repository, rules

log = logging.getLogger(__name__)
JOB_STATUSES = ("queued", "running", "done", "dead")
MAX_NOTE = 500


def prune(db: Database, clock: Clock, keep: rules.KeepPeriods = rules.DEFAULT_KEEP, batch: int = rules.BATCH,
          pause: Callable[[float], None] = time.sleep) -> rules.Pruned:
    """Delete every operational row past its period (see :mod:`.rules`), a batch a transaction, pausing after
    each full one (:data:`.rules.MIN_PAUSE_SECONDS`); returns the counts. Safe beside a running platform and
    beside another prune (each batch re-checks what it deletes)."""
    pruned = rules.Pruned()
    for kind, cutoff in keep.cutoffs(clock.now()).items():
        while True:
            started = time.monotonic()
            with db.transaction() as session:
                deleted = repository.prune_batch(session, kind, cutoff, batch)
            pruned.transactions += 1
            pruned.deleted[kind] += deleted
            if deleted < batch:
                break
            pause(max(rules.MIN_PAUSE_SECONDS, time.monotonic() - started))  # the lock free for the others
    log.info("housekeeping pruned %d row(s) in %d transaction(s): %s", pruned.total, pruned.transactions,
             pruned.deleted)
    return pruned


def list_jobs(session: Session, *, status: str = "dead", kind: str | None = None, limit: int = 50,
              starting_after: str | None = None) -> list[Job]:
    """The jobs of one status (dead by default: the ones someone must look at), latest due first.

    Raises:
        InvalidRequest (``invalid_job_status``): not a status a job has.
    """
    if status not in JOB_STATUSES:
        raise InvalidRequest(f"a job's status is one of {', '.join(JOB_STATUSES)}", code="invalid_job_status",
                             details={"status": status})
    return repository.list_jobs(session, status=status, kind=kind, limit=limit, starting_after=starting_after)


def get_job(session: Session, job_id: str) -> Job:
    """One job.

    Raises:
        NotFound (``job_not_found``): no such job (or pruned).
    """
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound(f"no job {job_id}", code="job_not_found")
    return job


@dataclass(frozen=True)
class Requeued:
    """A dead job queued again: its id, kind and the attempts it had used."""

    job_id: str
    kind: str
    attempts_before: int


def requeue(session: Session, clock: Clock, *, job_id: str, actor: str, note: str | None = None) -> Requeued:
    """Queue a dead job again, due now, with a fresh count of attempts — once its cause is mended (an
    endpoint back up, a release every worker now runs). Recorded in the audit log as ``job.requeued``; the
    caller wakes the worker after the commit.

    Raises:
        NotFound (``job_not_found``). Conflict (``job_not_dead``): the job is not dead — it is queued, running
        or done, or someone requeued it a moment ago. InvalidRequest (``note_too_long``).
    """
    if note is not None and len(note) > MAX_NOTE:
        raise InvalidRequest(f"a note is at most {MAX_NOTE} characters", code="note_too_long")
    job = get_job(session, job_id)
    attempts, kind, status = job.attempts, job.kind, job.status
    if status != "dead" or not repository.requeue_dead(session, job_id, clock.now()):
        raise Conflict(f"job {job_id} is {status}, not dead: only a dead job is queued again",
                       code="job_not_dead", details={"status": status})
    session.expire(job)
    details: dict[str, Any] = {"kind": kind, "attempts_before": attempts}
    if note:
        details["note"] = note
    audit.record(session, clock, actor=actor, action="job.requeued", target_type="job", target_id=job_id,
                 details=details)
    return Requeued(job_id, kind, attempts)
