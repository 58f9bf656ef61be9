"""The worker loop: claim due jobs, run each in its own transaction, record the outcome.

Handlers are plain functions ``handler(args) -> RetryLater | None`` that open their own transactions,
because most of them talk to a channel or a merchant's server and no transaction may stay open across
network I/O (on SQLite it would hold the write lock). A handler that wants to be called again (e.g. a
payment still pending at the channel) returns :class:`RetryLater`; one that raises is retried with
backoff. Handlers are idempotent: a crash between a handler's commit and the job's completion only
means the handler runs once more.
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

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetryLater:
    """Returned by a handler that is not finished: run the job again at ``at`` (not counted as failure)."""

    at: datetime
    reason: str = "not finished"


Handler = Callable[[dict[str, Any]], RetryLater | None]

_WORKERS_HERE: weakref.WeakSet[Worker] = weakref.WeakSet()  # this process's workers: their claims are live


class Worker:
    """Runs jobs from the database until stopped. Several may run at once, in one or many processes."""

    def __init__(self, db: Database, clock: Clock, handlers: Mapping[str, Handler], *,
                 batch: int = 10, poll_seconds: float = 0.5) -> None:
        self.db = db
        self.clock = clock
        self.handlers = dict(handlers)
        self.batch = batch
        self.poll_seconds = poll_seconds
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
                               skip_locked=self.db.is_postgres)
            claimed = [(job.id, job.kind, dict(job.args), job.attempts) for job in jobs]
        for job_id, kind, args, attempts in claimed:
            self._run(job_id, kind, args, attempts)
        return len(claimed)

    def _run(self, job_id: str, kind: str, args: dict[str, Any], attempts: int) -> None:
        handler = self.handlers.get(kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for job kind {kind!r}")
            outcome = handler(args)
            with self.db.transaction() as session:
                if isinstance(outcome, RetryLater):
                    queue.reschedule(session, job_id, self.worker_id, outcome.at, outcome.reason)
                else:
                    queue.complete(session, job_id, self.worker_id, self.clock.now())
        except Exception as exc:
            log.warning("job %s (%s) attempt %d failed: %s", job_id, kind, attempts, exc)
            with self.db.transaction() as session:
                queue.fail(session, job_id, self.worker_id, self.clock.now(), f"{type(exc).__name__}: {exc}")

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
                self.clock.now())
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

