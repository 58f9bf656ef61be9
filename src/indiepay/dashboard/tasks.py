"""The daily ``dashboard.prune`` job: sessions that ended or expired more than :data:`KEEP` ago are deleted.

A session row is only a way in (the sign-in itself is in the audit log, hash-chained), so it need not
outlive its use; without this job every sign-in would leave a row behind for ever. Due at 04:00 Beijing
time, chained like every daily job (:class:`~indiepay.db.jobs.daily.DailyChain`).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, or_

from indiepay.core.clock import BUSINESS_TZ, Clock, business_day
from indiepay.dashboard.models import DashboardSession
from indiepay.db.engine import Database
from indiepay.db.jobs.daily import DailyChain
from indiepay.db.jobs.worker import RetryLater

log = logging.getLogger(__name__)
PRUNE_JOB = "dashboard.prune"
KEEP = timedelta(days=30)


def run_at(day: date) -> datetime:
    return datetime.combine(day, time(4), tzinfo=BUSINESS_TZ).astimezone(UTC)


CHAIN = DailyChain(PRUNE_JOB, run_at, business_day)


def prune(db: Database, clock: Clock) -> int:
    """Delete the sessions that ended or expired more than :data:`KEEP` ago; returns how many."""
    before = clock.now() - KEEP
    with db.transaction() as session:
        result = session.execute(delete(DashboardSession).where(
            or_(DashboardSession.expires_at < before, DashboardSession.ended_at < before)))
    return int(getattr(result, "rowcount", 0) or 0)


def run_prune_job(db: Database, clock: Clock, args: dict[str, Any]) -> RetryLater | None:
    """Job: queue tomorrow's prune, then prune."""
    day = CHAIN.start_day(db, clock, args)
    if isinstance(day, RetryLater):
        return day
    log.info("dashboard sessions pruned on %s: %d", day, prune(db, clock))
    return None
