"""An injectable clock, so that time-based rules (expiry, 300 s windows, backoff) are testable.

All times are timezone-aware UTC; the business day is computed in Asia/Shanghai regardless of ``TZ``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Protocol
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Something that tells the current UTC time."""

    def now(self) -> datetime: ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock for tests: it stands still until moved."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        return self._at

    def advance(self, delta: timedelta) -> None:
        self._at += delta


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as aware UTC; naive values (as SQLite hands them back) are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


_last_business_day: tuple[datetime, date] | None = None


def business_day(at: datetime) -> date:
    """The Asia/Shanghai calendar day an instant belongs to (bills cut at 00:00 Beijing time).

    The last answer is kept: a payment's admission asks for the same instant's day several times (limits,
    the measure, the history, the cap warnings), and the time-zone conversion costs more than the question.
    Equal instants have the same day whatever their time zone, so equality is the right test."""
    global _last_business_day
    last = _last_business_day
    if last is not None and last[0] == at:
        return last[1]
    day = as_utc(at).astimezone(BUSINESS_TZ).date()
    _last_business_day = (at, day)
    return day


def business_day_start(day: date) -> datetime:
    """00:00 Beijing time on ``day``, as aware UTC."""
    return datetime.combine(day, time(0), tzinfo=BUSINESS_TZ).astimezone(UTC)


EARLIEST_STORABLE = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_STORABLE = datetime(9999, 1, 1, tzinfo=UTC)
"""Instants a request may name (a list's window, a bank booking time, an alert filter) lie in
``[EARLIEST_STORABLE, LATEST_STORABLE)``: wide enough for anything real, narrow enough that the instant
converts to UTC and to a business day (Beijing) without overflowing ``datetime`` — year 1 at +08:00 is
not an instant Python can put in UTC, and such a value reached the database as a 500."""


def storable_utc(value: datetime) -> datetime:
    """``value`` (aware) in UTC, if it lies in the storable range.

    Raises:
        ValueError: a naive value, or one outside ``[EARLIEST_STORABLE, LATEST_STORABLE)``.
    """
    if value.tzinfo is None:
        raise ValueError("a time needs a time zone (e.g. 2026-11-27T00:00:00+08:00)")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not EARLIEST_STORABLE <= utc < LATEST_STORABLE:
        raise ValueError(f"a time must lie between {EARLIEST_STORABLE:%Y-%m-%d} and {LATEST_STORABLE:%Y-%m-%d} (UTC)")
    return utc


def _storable(value: datetime) -> datetime:
    storable_utc(value)
    return value


StorableInstant = Annotated[AwareDatetime, AfterValidator(_storable)]
"""An instant a request body may carry (e.g. when a bank booked a transfer): aware and in the storable range —
else the request is a 400 ``invalid_request`` naming the field, as for a time without a zone."""
