"""The worker loop: claim due jobs, run each in its own transaction, record the outcome.

Handlers are plain functions ``handler(args) -> RetryLater | None`` that open their own transactions,
because most of them talk to a channel or a merchant's server and no transaction may stay open across
network I/O (on SQLite it would hold the write lock). A handler that wants to be called again (e.g. a
payment still pending at the channel) returns :class:`RetryLater`; one that raises is retried with
backoff. Handlers are idempotent: a crash between a handler's commit and the job's completion only
means the handler runs once more.

A job runs in one worker at a time. A batch is claimed under one lease, but each job's claim is checked (and
renewed) just before it starts if the lease has less than half of it left — one conditional ``UPDATE``, only
for jobs that waited behind slow ones; while a handler runs, :mod:`.leases` renews its lease; and the outcome is
recorded only if the worker still holds the job. A job that goes ``dead`` is passed to ``on_dead`` (the
composition root raises the operator's alert there: this package knows nothing of alerts).

A job of a kind this worker has no handler for is dead at once, not retried a dozen times over hours: a handler
is code, and the same build will not have it an hour later (a kind renamed or dropped, a typo). The alert names
the job, its kind and arguments. The one case where waiting would have helped — during a rolling upgrade an
older worker claims the job of a kind that a newer server queued — is then visible at once, instead of the job
quietly running hours late or, past its attempts, never.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from indiepay.core.clock import Clock
from indiepay.db.engine import Database
from indiepay.db.jobs import owners, queue
from indiepay.db.jobs.leases import KEEPER, Held, LeaseKeeper

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryLater:
    """Returned by a handler that is not finished: run the job again at ``at`` (not counted as failure)."""

    at: datetime
    reason: str = "not finished"


Handler = Callable[[dict[str, Any]], RetryLater | None]
RECHECK_BELOW = queue.LEASE / 2  # a claimed job with less lease than this left is re-checked before it starts


@dataclass(frozen=True)
class _Claimed:
    id: str
    kind: str
    args: dict[str, Any]
    attempts: int
    locked_until: datetime


_WORKERS_HERE: weakref.WeakSet[Worker] = weakref.WeakSet()  # this process's workers: their claims are live


class Worker:
    """Runs jobs from the database until stopped. Several may run at once, in one or many processes."""

    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, Handler], *,
                 batch: int = 10, poll_seconds: float = 0.5, on_dead: queue.OnDead | None = None,
                 leases: LeaseKeeper = KEEPER) -> None:
        """``on_dead``: told, in the transaction that marks it, of every job that goes dead; ``leases``: the
        keeper of running jobs' leases (the process's own unless a test needs another)."""
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.batch = batch
        self.poll_seconds = poll_seconds
        self.on_dead = on_dead
        self.leases = leases
        self.machine = owners.this_machine()
        self.worker_id = owners.new_worker_id(self.machine)
        _WORKERS_HERE.add(self)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        """Claim and run one batch of due jobs; returns how many ran."""
        with self.db.read() as session:
            if not queue.any_due(session, self.clock.now()):
                return 0  # an idle poll costs one read, never the write lock
        with self.db.transaction() as session:
            jobs = queue.claim(session, worker_id=self.worker_id, now=self.clock.now(), limit=self.batch,
                               skip_locked=self.db.is_postgres, exclude=self.leases.running(), on_dead=self.on_dead)
            claimed = [_Claimed(job.id, job.kind, dict(job.args), job.attempts, job.locked_until or self.clock.now())
                       for job in jobs]
        for job in claimed:
            self._run(job)
        return len(claimed)

    def _run(self, job: _Claimed) -> None:
        with self.leases.hold(self.db, self.clock, self.worker_id, job.id) as held:
            # registered first, so no worker of this process claims it between this check and the handler
            if job.locked_until - self.clock.now() < RECHECK_BELOW and not self.leases.renew(held):
                log.warning("job %s (%s) was claimed by another worker while it waited in this worker's batch; "
                            "not run here", job.id, job.kind)
                return
            handler = self.handlers.get(job.kind)
            if handler is None:
                self._fail(held, job, f"no handler for job kind {job.kind!r}", final=True)
                return
            try:
                outcome = handler(job.args)
                with held.settling(), self.db.transaction() as session:
                    if isinstance(outcome, RetryLater):
                        kept = queue.reschedule(session, job.id, self.worker_id, outcome.at, outcome.reason)
                    else:
                        kept = queue.complete(session, job.id, self.worker_id, self.clock.now())
                if not kept:
                    log.error("job %s (%s) ran here after another worker had claimed it; its outcome is left to "
                              "that worker", job.id, job.kind)
            except Exception as exc:
                log.warning("job %s (%s) attempt %d failed: %s", job.id, job.kind, job.attempts, exc)
                self._fail(held, job, f"{type(exc).__name__}: {exc}")

    def _fail(self, held: Held, job: _Claimed, error: str, *, final: bool = False) -> None:
        with held.settling(), self.db.transaction() as session:
            queue.fail(session, job.id, self.worker_id, self.clock.now(), error, final=final, on_dead=self.on_dead)

    def drain(self, max_rounds: int = 100) -> int:
        """Run until no job is due (for tests and the demo); returns how many ran."""
        total = 0
        for _ in range(max_rounds):
            ran = self.run_once()
            total += ran
            if ran == 0:
                break
        return total

    def wake(self) -> None:
        """Ask a sleeping loop to look for work now (called after enqueuing in-process)."""
        self._wake.set()

    def recover(self) -> int:
        """Make the jobs that a dead worker process of this machine was running due now, rather than after
        their lease (see :mod:`indiepay.db.jobs.owners`); returns how many. Run when the loop starts."""
        live = {worker.worker_id for worker in _WORKERS_HERE}
        with self.db.transaction() as session:
            released = queue.release_dead(
                session, self.machine, lambda owner: owners.is_dead(owner, machine=self.machine, live_here=live),
                self.clock.now(), on_dead=self.on_dead)
        if released:
            log.warning("%d job(s) of stopped workers on this machine released to run again", released)
        return released

    def run_forever(self) -> None:
        try:
            self.recover()
        except Exception:  # the lease still frees them: never a reason not to start
            log.exception("could not release the jobs of stopped workers")
        while not self._stop.is_set():
            try:
                ran = self.run_once()
            except Exception:
                log.exception("worker loop error")
                ran = 0
            if ran == 0:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def start_in_thread(self) -> None:
        self._thread = threading.Thread(target=self.run_forever, name="indiepay-worker", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

