"""Retention rules as pure functions: months in Beijing time, the live window, the five-year floor."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from indiepay.core.errors import InvalidRequest
from indiepay.retention.policy import (
    DEFAULT_LIVE_WINDOW_MONTHS,
    RETENTION_YEARS,
    Month,
    check_closed,
    live_window_start,
    retention_floor,
)


def test_the_policy_constants() -> None:
    assert RETENTION_YEARS == 5
    assert DEFAULT_LIVE_WINDOW_MONTHS == 13


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-01", "2026/01", "2026-1", "", "2026-01-01"])
def test_malformed_months_are_refused(text: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        Month.parse(text)
    assert caught.value.code == "invalid_month"


def test_months_are_beijing_months() -> None:
    assert Month.of(datetime(2026, 10, 31, 15, 59, 59, tzinfo=UTC)) == Month(2026, 10)
    assert Month.of(datetime(2026, 10, 31, 16, 0, tzinfo=UTC)) == Month(2026, 11)  # 00:00 on 1 Nov in Beijing
    assert Month(2026, 11).start() == datetime(2026, 10, 31, 16, 0, tzinfo=UTC)
    assert Month.of(datetime(2026, 1, 1, 0, 0)) == Month(2026, 1)  # naive: taken as UTC, 08:00 Beijing


def test_month_arithmetic_and_order() -> None:
    assert Month(2026, 1).plus(-1) == Month(2025, 12)
    assert Month(2026, 11).plus(14) == Month(2028, 1)
    assert Month(2026, 11).plus(-13) == Month(2025, 10)
    assert Month(2025, 12) < Month(2026, 1)
    assert str(Month.parse(" 2026-03 ")) == "2026-03"


def test_live_window_and_retention_floor() -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    assert live_window_start(now) == Month(2025, 10)
    assert live_window_start(now, 0) == Month(2026, 11)
    assert retention_floor(now) == Month(2021, 11)
    with pytest.raises(InvalidRequest):
        live_window_start(now, -1)


def test_only_closed_months_may_be_archived() -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
    check_closed(Month(2026, 11), now)  # everything before November: October has ended
    with pytest.raises(InvalidRequest) as caught:
        check_closed(Month(2026, 12), now)
    assert caught.value.code == "month_not_closed"
