"""A job that runs once a day, kept in the job table (no second scheduler).

Each day ``D`` has one job of the chain's kind (unique key per date), due at ``run_at(D)``. Run, it first
queues ``D+1``'s job — the chain renews itself, and a failing day never stops the next — then does the
day's work. :meth:`DailyChain.seed` starts the chain when a worker starts and no job of the chain is
waiting; safe from every worker at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.queue import enqueue
from indiepay.db.jobs.worker import RetryLater


@dataclass(frozen=True)
class DailyChain:
    """``kind``: the job kind; ``run_at``: when a day's job is due (aware UTC); ``first_day``: the day to
    seed a new chain with, from the time now."""

    kind: str
    run_at: Callable[[date], datetime]
    first_day: Callable[[datetime], date]

    def key(self, day: date) -> str:
        """The unique key of ``day``'s job."""
        return f"{self.kind}:{day.isoformat()}"

    def schedule(self, session: Session, clock: Clock, day: date) -> None:
        """Queue ``day``'s job at its run time (once: the job's key is the date)."""
        enqueue(session, self.kind, {"date": day.isoformat()}, now=clock.now(), run_at=self.run_at(day),
                unique_key=self.key(day))

    def seed(self, db: Database, clock: Clock) -> date | None:
        """Start the chain unless one of its jobs is queued or running; returns the day queued, or None. Two
        workers seeding at once queue one job: the day's key folds the second into the first (``enqueue``)."""
        with db.transaction() as session:
            waiting = session.scalars(select(Job.id).where(
                Job.kind == self.kind, Job.status.in_(("queued", "running"))).limit(1)).first()
            if waiting is not None:
                return None
            day = self.first_day(clock.now())
            self.schedule(session, clock, day)
            return day

    def start_day(self, db: Database, clock: Clock, args: dict[str, object]) -> date | RetryLater:
        """The job's day once it is due, with the next day's job queued; a :class:`RetryLater` before."""
        day = date.fromisoformat(str(args["date"]))
        if clock.now() < self.run_at(day):
            return RetryLater(at=self.run_at(day), reason=f"{self.kind} of {day} is not due yet")
        with db.transaction() as session:
            self.schedule(session, clock, day + timedelta(days=1))
        return day
