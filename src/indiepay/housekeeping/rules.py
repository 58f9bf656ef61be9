"""How long each kind of operational row is kept after its use, as plain values.

The periods are floors a busy platform can afford, not guesses at "never needed again": an idempotency
record is replayed for :data:`indiepay.idempotency.service.KEEP_FOR` (24 hours) and then a repeat of its key
is a new request anyway, so a second day only covers clocks and in-flight claims; a finished job and a
webhook delivery log serve someone looking into what happened last month; a dead job is kept longer, since
it is the trace of work that was *not* done until someone requeues it (its ``job_dead`` alert holds the same
facts and is kept for good).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

IDEMPOTENCY = "idempotency_keys"
DONE_JOBS = "done_jobs"
DEAD_JOBS = "dead_jobs"
WEBHOOK_DELIVERIES = "webhook_deliveries"
KINDS = (IDEMPOTENCY, DONE_JOBS, DEAD_JOBS, WEBHOOK_DELIVERIES)

BATCH = 2_000
"""Rows deleted per transaction: on SQLite every other writer (payments included) waits while one runs, so a
batch stays in the tens of milliseconds however large the backlog."""

MIN_PAUSE_SECONDS = 0.02
"""The least pause between two full batches. A writer that found the lock taken sleeps in SQLite's busy
handler (steps of up to tens of milliseconds) and would miss it again and again if the next batch took it at
once: pausing as long as the batch took (at least this long) leaves the lock free half the time."""


@dataclass(frozen=True)
class KeepPeriods:
    """How long after its use each kind of row is kept (an idempotency record from its claim, a job from its
    end, a webhook delivery from its attempt)."""

    idempotency: timedelta = timedelta(days=2)
    done_jobs: timedelta = timedelta(days=30)
    dead_jobs: timedelta = timedelta(days=90)
    webhook_deliveries: timedelta = timedelta(days=30)

    def cutoffs(self, now: datetime) -> dict[str, datetime]:
        """Per kind, the instant before which its rows go."""
        return {IDEMPOTENCY: now - self.idempotency, DONE_JOBS: now - self.done_jobs,
                DEAD_JOBS: now - self.dead_jobs, WEBHOOK_DELIVERIES: now - self.webhook_deliveries}


DEFAULT_KEEP = KeepPeriods()


@dataclass
class Pruned:
    """What one prune deleted, per kind, and in how many transactions."""

    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    transactions: int = 0

    @property
    def total(self) -> int:
        return sum(self.deleted.values())
