"""The risk jobs: the daily ``risk.day_volumes`` roll-up, and ``risk.review_alert``, which raises a review
decision's alert after the payment or refund that hit the rule committed (:mod:`.screening`).

The daily ``risk.day_volumes`` job rolls each finished business day up for the history rules.

Each business day ``D`` is rolled up at ``D+1 00:30`` Beijing time (:mod:`.history`), by a chain of daily
jobs in the job table (:class:`~indiepay.db.jobs.daily.DailyChain`). Until a day is rolled up, history
reads fall back to that day's payments, so a late or failed job costs speed, never a wrong figure.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from indiepay.context import ServiceContext
from indiepay.core.clock import BUSINESS_TZ, business_day
from indiepay.db.jobs.daily import DailyChain
from indiepay.db.jobs.worker import RetryLater
from indiepay.risk import history, screening

log = logging.getLogger(__name__)
DAY_VOLUMES_JOB = "risk.day_volumes"
REVIEW_ALERT_JOB = screening.REVIEW_ALERT_JOB
RUN_AFTER_MIDNIGHT = time(0, 30)  # Beijing time, the day after: most of the day's pending payments are settled


def run_at(day: date) -> datetime:
    """When ``day`` is rolled up: 00:30 Beijing time the following day, as aware UTC."""
    return datetime.combine(day + timedelta(days=1), RUN_AFTER_MIDNIGHT, tzinfo=BUSINESS_TZ).astimezone(UTC)


CHAIN = DailyChain(DAY_VOLUMES_JOB, run_at, lambda now: business_day(now) - timedelta(days=1))


def run_day_volumes_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job: queue the next day's roll-up, then roll this one up (read first, then one short write)."""
    day = CHAIN.start_day(ctx.db, ctx.clock, args)
    if isinstance(day, RetryLater):
        return day
    with ctx.db.read() as session:
        volumes = history.day_volumes(session, day)
    with ctx.db.transaction() as session:
        history.store_day(session, day, volumes, ctx.clock.now())
    log.info("risk day volumes of %s: %d merchant-mode rows", day, len(volumes))
    return None


def run_review_alert_job(ctx: ServiceContext, args: dict[str, Any]) -> None:
    """Job: raise the ``risk_review`` alert of the review decision ``args["decision_id"]`` (see
    :mod:`.screening`)."""
    screening.raise_review_alert(ctx, str(args["decision_id"]))
