"""The daily ``housekeeping.prune`` job, due at 04:30 Beijing time — after the night's settlement (02:00) and
dashboard prune (04:00), before the morning's bills — and chained like every daily job
(:class:`~indiepay.db.jobs.daily.DailyChain`): it queues tomorrow's, then prunes (:func:`.service.prune`)."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time
from typing import Any

from indiepay.core.clock import BUSINESS_TZ, Clock, business_day
from indiepay.db.engine import Database
from indiepay.db.jobs.daily import DailyChain
from indiepay.db.jobs.worker import RetryLater
from indiepay.housekeeping import service

log = logging.getLogger(__name__)
PRUNE_JOB = "housekeeping.prune"


def run_at(day: date) -> datetime:
    return datetime.combine(day, time(4, 30), tzinfo=BUSINESS_TZ).astimezone(UTC)


CHAIN = DailyChain(PRUNE_JOB, run_at, business_day)


def run_prune_job(db: Database, clock: Clock, args: dict[str, Any]) -> RetryLater | None:
    """Job: queue tomorrow's prune, then prune."""
    day = CHAIN.start_day(db, clock, args)
    if isinstance(day, RetryLater):
        return day
    pruned = service.prune(db, clock)
    log.info("housekeeping of %s: %d row(s) pruned", day, pruned.total)
    return None
