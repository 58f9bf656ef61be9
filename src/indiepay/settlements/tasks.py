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

from indiepay.alerts.service import raise_alert
from indiepay.core.clock import Clock
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

    A merchant already settled for a later day (by hand) is left out of this day — its later batch included
    this day's money — and the operator is told; every other merchant is settled as usual.
    """
    business_date = rules.parse_business_date(str(args["date"]))
    if not rules.is_over(business_date, clock.now()):
        return RetryLater(at=rules.run_at(business_date), reason="the business day has not ended")
    with db.transaction() as session:
        CHAIN.schedule(session, clock, business_date + timedelta(days=1))
    skipped: list[tuple[str, str]] = []
    with db.transaction() as session:
        batches = service.settle_day(session, clock, business_date, skipped=skipped)
        if skipped:
            log.warning("settlement of %s left out %d merchant(s) already settled for a later day", business_date,
                        len(skipped))
            raise_alert(session, clock, kind="settlement_skipped", severity="medium", merchant_id=None,
                        dedupe_key=f"settlement_skipped:{business_date}",
                        message=(f"settlement of {business_date} left out {len(skipped)} merchant(s) already settled "
                                 "for a later day by hand (their later batch included this day's money)"),
                        details={"business_date": business_date.isoformat(),
                                 "merchants": [{"merchant_id": m, "currency": c} for m, c in skipped[:50]]})
    log.info("settled %s: %d batch(es), %d to pay out", business_date, len(batches),
             sum(1 for b in batches if b.payout is not None))
    return None
