"""Keeping the leases of running jobs, so that a job runs in one worker at a time.

A claim is a lease (:data:`indiepay.db.jobs.queue.LEASE`) so that the job of a worker that died runs again.
But a handler may legitimately run longer than the lease — a merchant's endpoint that answers only at the HTTP
timeout, a large bill, a slow channel — and when the lease runs out another worker claims the job and runs it a
second time, concurrently: a webhook sent twice, a refund or payout re-sent. So while a handler runs, its lease
is renewed (a heartbeat), and a worker whose lease was nevertheless lost (its process stalled past the lease)
records no outcome (every update of :mod:`.queue` is conditional on holding the job).

Cost per job: none on the database. One :class:`LeaseKeeper` thread serves every worker of the process; a job
is registered while its handler runs (a dict insert and pop under a lock: no thread, no round trip), and the
thread renews — one conditional ``UPDATE`` — only a job that has been running for :data:`RENEW_EVERY`, again
each :data:`RENEW_EVERY` (a minute: four chances before a five-minute lease runs out). The thread starts with
the first job and ends by itself once no job has run for :data:`RENEW_EVERY`; a job's heartbeat ends when its
registration does, in a ``finally``.

The registry is also this process's certain knowledge of which jobs are being run right now: a worker of the
process never claims one of those from another (:func:`~indiepay.db.jobs.queue.claim` ``exclude``), even past
its lease — a renewal can be late (a long-held SQLite write lock, a paused process), its runner is known alive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from indiepay.core.clock import Clock
from indiepay.db.engine import Database
from indiepay.db.jobs import queue

log = logging.getLogger(__name__)

RENEW_EVERY = queue.LEASE / 5


@dataclass
class Held:
    """One running job whose lease the keeper renews. ``lost``: a renewal found it no longer this worker's.

    The worker records the job's outcome inside :meth:`settling`, which a renewal never overlaps: a renewal
    that comes after the outcome is skipped, rather than finding the job no longer running and calling it lost.
    """

    db: Database
    clock: Clock
    worker_id: str
    job_id: str
    renewed_at: float  # time.monotonic() of the claim's last renewal (or of the registration)
    lost: bool = False
    settled: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def settling(self) -> Iterator[None]:
        """Hold off renewals while the block records the job's outcome; none after it."""
        with self.lock:
            try:
                yield
            finally:
                self.settled = True


class LeaseKeeper:
    """Renews the leases of the jobs this process is running. ``every``: seconds between renewals of a job."""

    def __init__(self, every: float = RENEW_EVERY.total_seconds(), lease: timedelta = queue.LEASE) -> None:
        self.every = every
        self.lease = lease
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def running(self) -> frozenset[str]:
        """The ids of the jobs this process is running now."""
        with self._lock:
            return frozenset(self._held) if self._held else frozenset()

    @contextmanager
    def hold(self, db: Database, clock: Clock, worker_id: str, job_id: str) -> Iterator[Held]:
        """Keep ``job_id``'s lease (held by ``worker_id``) renewed for as long as the block runs."""
        held = Held(db, clock, worker_id, job_id, time.monotonic())
        with self._lock:
            # another worker of the process already runs it (it claimed it after this worker's lease ran out):
            # that registration stays, and this worker's check before running finds the job not its own
            self._held.setdefault(job_id, held)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="indiepay-job-leases", daemon=True)
                self._thread.start()
        try:
            yield held
        finally:
            with self._lock:
                if self._held.get(job_id) is held:
                    del self._held[job_id]

    def renew(self, held: Held) -> bool:
        """Renew one job's lease now; False when it is no longer its worker's (``held.lost`` set) or its outcome
        is recorded already."""
        with held.lock:
            if held.settled or held.lost:
                return False
            with held.db.transaction() as session:
                kept = queue.renew(session, held.job_id, held.worker_id, held.clock.now() + self.lease)
            held.renewed_at = time.monotonic()
            held.lost = not kept
            return kept

    def renew_due(self, *, all_now: bool = False) -> float:
        """Renew every held lease last renewed :attr:`every` seconds ago or more (every one, with ``all_now``);
        returns the seconds until the next renewal is due (:attr:`every` when nothing is held)."""
        now = time.monotonic()
        with self._lock:
            held = list(self._held.values())
        wait = self.every
        for one in held:
            if one.lost or one.settled:  # nothing left to renew: its worker lets it go in a moment
                continue
            left = one.renewed_at + self.every - now
            if left > 0 and not all_now:
                wait = min(wait, left)
                continue
            try:
                if not self.renew(one) and one.lost:
                    log.error("job %s: worker %s lost its claim while running it (its lease ran out and another "
                              "worker claimed it); its outcome will not be recorded", one.job_id, one.worker_id)
            except Exception:  # the database is unreachable: try again next round, the lease has time left
                one.renewed_at = time.monotonic()
                log.exception("could not renew the lease of job %s", one.job_id)
        return max(wait, 0.0)

    def _run(self) -> None:
        idle_since: float | None = None
        while True:
            wait = self.renew_due()
            with self._lock:
                if self._held:
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= self.every:
                    self._thread = None  # under the lock: the next hold() starts a new thread
                    return
            time.sleep(wait)


KEEPER = LeaseKeeper()  # the process's keeper, shared by its workers (threads start only when a job runs)
