"""Statement months: ``YYYY-MM`` in Asia/Shanghai, as a half-open UTC interval.

A merchant in China closes its books by the Beijing calendar, whatever time zone the server runs in, so
month ``2026-11`` is ``[2026-11-01 00:00 CST, 2026-12-01 00:00 CST)`` = ``[2026-10-31 16:00Z,
2026-11-30 16:00Z)``. An entry at exactly the first instant of a month belongs to that month; one at
exactly the first instant of the next month does not.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from indiepay.core.clock import BUSINESS_TZ, as_utc
from indiepay.core.errors import InvalidRequest, Unprocessable

_MONTH = re.compile(r"(\d{4})-(\d{2})")
FIRST_YEAR = 2000  # nothing older can be in an IndiePay ledger; also keeps every bound representable
LAST_YEAR = 9998


@dataclass(frozen=True)
class Month:
    """One statement month and its UTC bounds."""

    label: str  # YYYY-MM
    start: datetime  # aware UTC, inclusive
    end: datetime  # aware UTC, exclusive

    def has_ended(self, now: datetime) -> bool:
        return as_utc(now) >= self.end

    def has_started(self, now: datetime) -> bool:
        return as_utc(now) >= self.start


def parse_month(text: str) -> Month:
    """Parse ``YYYY-MM`` into its Asia/Shanghai month.

    Raises:
        InvalidRequest (``invalid_month``): not ``YYYY-MM``, month outside 01-12, or year outside 2000-9998.
    """
    match = _MONTH.fullmatch(text or "")
    if match is None:
        raise InvalidRequest(f"month must be YYYY-MM, got {text!r}", code="invalid_month")
    year, month = int(match.group(1)), int(match.group(2))
    if not 1 <= month <= 12 or not FIRST_YEAR <= year <= LAST_YEAR:
        raise InvalidRequest(f"no such statement month: {text!r}", code="invalid_month")
    next_year, next_month = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=BUSINESS_TZ).astimezone(UTC)
    end = datetime(next_year, next_month, 1, tzinfo=BUSINESS_TZ).astimezone(UTC)
    return Month(label=f"{year:04d}-{month:02d}", start=start, end=end)


def statement_month(text: str, now: datetime) -> Month:
    """Parse a month a statement may be asked for: any past month, or the current (still open) one.

    Raises:
        InvalidRequest (``invalid_month``): see :func:`parse_month`.
        Unprocessable (``month_in_future``): the month has not started yet (Beijing time).
    """
    month = parse_month(text)
    if not month.has_started(now):
        raise Unprocessable(f"month {month.label} has not started yet", code="month_in_future",
                            details={"month": month.label})
    return month


def iso_utc(value: datetime) -> str:
    """``2026-10-31T16:00:00Z``: the one text form of an instant in a statement body."""
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")
