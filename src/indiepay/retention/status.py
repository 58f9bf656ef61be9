"""How old the financial records are: what has left the live window and what has passed five years.

The report is for the operator deciding when to export an archive. Records past the retention period are
counted too, but only as information: deletion is refused by the database, and removing data for good is
a decision for people with the accountant's and lawyer's sign-off, never for a timer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.retention import repository
from indiepay.retention.policy import DEFAULT_LIVE_WINDOW_MONTHS, Month, live_window_start, retention_floor
from indiepay.retention.repository import TableAge
from indiepay.retention.tables import TABLES


@dataclass(frozen=True)
class RetentionStatus:
    """Per table: rows, the oldest record and how many predate the live window and the retention floor."""

    now: datetime
    live_window_months: int
    live_window_start: Month
    retention_floor: Month
    tables: list[TableAge]

    @property
    def archivable(self) -> bool:
        """Whether anything lies before the live window (and so could go into a cold archive)."""
        return any(age.older_than_live_window for age in self.tables)


def retention_status(session: Session, clock: Clock,
                     live_window_months: int = DEFAULT_LIVE_WINDOW_MONTHS) -> RetentionStatus:
    """Age every archived table against the live window and the retention period.

    Raises:
        InvalidRequest (``invalid_live_window``): a negative live window.
    """
    now = clock.now()
    live = live_window_start(now, live_window_months)
    floor = retention_floor(now)
    ages = [repository.table_age(session, spec, live, floor) for spec in TABLES]
    ages.append(repository.entries_age(session, live, floor))
    ages.append(repository.postings_age(session, live, floor))
    return RetentionStatus(now, live_window_months, live, floor, ages)
