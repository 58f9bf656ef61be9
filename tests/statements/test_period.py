"""Statement months are Beijing months, whatever the server's TZ."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest

from indiepay.core.errors import InvalidRequest, Unprocessable
from indiepay.statements.period import parse_month, statement_month


def test_month_bounds_in_beijing_time(monkeypatch: pytest.MonkeyPatch) -> None:
    for tz in ("UTC", "America/Los_Angeles", "Asia/Shanghai"):
        monkeypatch.setenv("TZ", tz)
        time.tzset()
        month = parse_month("2026-12")
        assert month.start == datetime(2026, 11, 30, 16, tzinfo=UTC)
        assert month.end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    monkeypatch.delenv("TZ")
    time.tzset()
    february = parse_month("2028-02")  # a leap year
    assert (february.end - february.start).days == 29


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "abc", "2026-1", "26-01", "2026/01", "1999-12", " 2026-01"])
def test_bad_months(text: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        parse_month(text)
    assert error.value.code == "invalid_month"


def test_future_months_are_refused_until_they_start_in_beijing() -> None:
    one_second_before = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
    with pytest.raises(Unprocessable) as error:
        statement_month("2026-12", one_second_before)
    assert error.value.code == "month_in_future"
    assert statement_month("2026-12", datetime(2026, 11, 30, 16, tzinfo=UTC)).label == "2026-12"
