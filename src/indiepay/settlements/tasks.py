"""The daily settlement schedule, kept in the job table (no second scheduler).

Each business day ``D`` has one ``settlement.run_day`` job (unique key per date) due at ``D+1 02:00``
Beijing time. The job first queues ``D+1``'s job, then settles ``D``, so the chain renews itself and a
failing day never stops the following ones; after downtime the overdue jobs run one after the other and
catch up. :func:`seed_schedule` starts the chain (:class:`~indiepay.db.jobs.daily.DailyChain`) when a worker
starts and no day job is waiting — safe to call from every worker at once.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from indiepay.core.clock import Clock
from indiepay.core.errors import Conflict
from indiepay.db.engine import Database
from indiepay.db.jobs.daily import DailyChain
from indiepay.db.jobs.worker import RetryLater
from indiepay.settlements import rules, service

log = logging.getLogger(__name__)
RUN_DAY_JOB = "settlement.run_day"


CHAIN = DailyChain(RUN_DAY_JOB, rules.run_at, rules.last_closed_day)  # seeded with the last finished day


def day_job_key(business_date: date) -> str:
    return CHAIN.key(business_date)


def seed_schedule(db: Database, clock: Clock) -> date | None:
    """Start the daily chain unless a day job is already queued or running: queue the last finished day
    (settling a day twice changes nothing). Returns the day queued, or ``None``."""
    return CHAIN.seed(db, clock)


def run_day_job(db: Database, clock: Clock, args: dict[str, Any]) -> RetryLater | None:
    """Settle the job's day and queue the next one.

    A day refused as out of order (a later day was settled first, by hand) is logged and not retried:
    the later batches already included its money.
    """
    business_date = rules.parse_business_date(str(args["date"]))
    if not rules.is_over(business_date, clock.now()):
        return RetryLater(at=rules.run_at(business_date), reason="the business day has not ended")
    with db.transaction() as session:
        CHAIN.schedule(session, clock, business_date + timedelta(days=1))
    try:
        with db.transaction() as session:
            batches = service.settle_day(session, clock, business_date)
    except Conflict as exc:
        if exc.code != "settlement_out_of_order":
            raise
        log.error("settlement of %s skipped: %s", business_date, exc.message)
        return None
    log.info("settled %s: %d batch(es), %d to pay out", business_date, len(batches),
             sum(1 for b in batches if b.payout is not None))
    return None
