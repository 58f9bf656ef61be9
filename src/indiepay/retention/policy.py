"""The retention rules and the month arithmetic they need, as plain values and functions.

Records are kept for at least :data:`RETENTION_YEARS` (issue 3; accounting-archive rules can ask for
longer for some documents, which is why nothing is ever deleted automatically: the period is a floor,
not a purge date). The *live window* is how far back operators
expect day-to-day queries to reach; anything older may be exported to a cold archive but stays in the
database.

Months are calendar months in Asia/Shanghai — the business timezone of bills, settlements and statements —
so a month's archive holds exactly what its statement covers, whatever the server's ``TZ``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from indiepay.core.clock import BUSINESS_TZ, as_utc
from indiepay.core.errors import InvalidRequest

RETENTION_YEARS = 5
"""Financial records stay queryable for at least this long (issue 3, item 6)."""

DEFAULT_LIVE_WINDOW_MONTHS = 13
"""A year plus the month before it: enough for year-on-year comparisons and late disputes."""

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Month:
    """A calendar month in Beijing time, written ``YYYY-MM``."""

    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """Parse ``YYYY-MM``.

        Raises:
            InvalidRequest (``invalid_month``): anything else.
        """
        match = _MONTH.match(text.strip())
        if match is None:
            raise InvalidRequest(f"not a month: {text!r} (expected YYYY-MM)", code="invalid_month")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, instant: datetime) -> Month:
        """The Beijing-time month an instant falls in (naive values are taken to be UTC)."""
        local = as_utc(instant).astimezone(BUSINESS_TZ)
        return cls(local.year, local.month)

    def plus(self, months: int) -> Month:
        index = self.year * 12 + (self.month - 1) + months
        return Month(index // 12, index % 12 + 1)

    def start(self) -> datetime:
        """00:00 Beijing time on the 1st, as aware UTC: the first instant of the month."""
        return datetime(self.year, self.month, 1, tzinfo=BUSINESS_TZ).astimezone(UTC)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def live_window_start(now: datetime, months: int = DEFAULT_LIVE_WINDOW_MONTHS) -> Month:
    """The oldest month still inside the live window: the current month and the ``months`` before it.

    Raises:
        InvalidRequest (``invalid_live_window``): ``months`` is negative.
    """
    if months < 0:
        raise InvalidRequest("the live window cannot be negative", code="invalid_live_window")
    return Month.of(now).plus(-months)


def retention_floor(now: datetime) -> Month:
    """Records dated before this month have been kept for the full retention period."""
    return Month.of(now).plus(-12 * RETENTION_YEARS)


def check_closed(before: Month, now: datetime) -> None:
    """An archive may only cover months that have ended: ``before`` is at most the current month.

    Raises:
        InvalidRequest (``month_not_closed``): ``before`` lies after the current month, so the month before
            it is still open and its records could still change.
    """
    current = Month.of(now)
    if before > current:
        raise InvalidRequest(f"{before.plus(-1)} has not ended yet: archive with --before {current} or earlier",
                             code="month_not_closed", details={"before": str(before), "current": str(current)})
