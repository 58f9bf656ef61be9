"""UTCDateTime on SQLite: the text it stores is SQLAlchemy's own SQLite DATETIME text of the UTC instant —
rows stored before and after its one-step bind processor compare and sort as one."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import DateTime
from sqlalchemy.dialects import postgresql, sqlite

from indiepay.db.base import UTCDateTime

SQLITE = sqlite.dialect()


def _sqlalchemy_text(value: datetime) -> str:
    """What SQLAlchemy's SQLite DATETIME stores for the naive UTC form of ``value``."""
    process = DateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    return str(process(value.astimezone(UTC).replace(tzinfo=None)))


def test_the_stored_text_is_sqlalchemys_for_every_zone_and_microsecond() -> None:
    process = UTCDateTime().dialect_impl(SQLITE).bind_processor(SQLITE)
    assert process is not None
    rng = random.Random(5)
    zones = (UTC, ZoneInfo("Asia/Shanghai"), timezone(timedelta(hours=-5, minutes=-30)), ZoneInfo("UTC"))
    instants = [datetime(2026, 11, 26, 0, 0, 0, 0, tzinfo=UTC), datetime(1000, 1, 2, tzinfo=UTC),
                datetime(9999, 12, 30, 23, 59, 59, 999999, tzinfo=UTC)]
    instants += [datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randrange(2 * 10**9),
                                                              microseconds=rng.choice([0, rng.randrange(10**6)]))
                 for _ in range(5_000)]
    for instant in instants:
        for zone in zones:
            value = instant.astimezone(zone)
            assert process(value) == _sqlalchemy_text(value), value
    assert process(datetime(2026, 11, 26, 8, 0, tzinfo=ZoneInfo("Asia/Shanghai"))) == "2026-11-26 00:00:00.000000"
    assert process(None) is None


def test_a_naive_value_is_refused_on_every_dialect() -> None:
    for dialect in (SQLITE, postgresql.dialect()):  # type: ignore[no-untyped-call]
        process: Callable[[Any], Any] | None = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
        assert process is not None
        with pytest.raises(ValueError, match="naive"):
            process(datetime(2026, 11, 26))
