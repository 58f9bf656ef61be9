"""``retention_status``: per table, the oldest record and how many predate the live window and the
five-year floor — dated the same way the archive dates them."""

from __future__ import annotations

from datetime import UTC, datetime

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.retention.policy import Month
from indiepay.retention.status import retention_status
from tests.retention.conftest import Books, beijing

NOW = FixedClock(datetime(2026, 11, 26, 3, 0, tzinfo=UTC))


def test_ages_against_the_live_window_and_the_retention_floor(db: Database, books: Books) -> None:
    old = books.payment(beijing(2021, 6, 1))  # past five years
    books.refund(old, beijing(2021, 6, 2))
    books.payment(beijing(2025, 5, 1))  # before the live window (October 2025 onwards)
    books.payment(beijing(2026, 10, 1))
    books.settlement(beijing(2025, 10, 1, 2), day="2025-09-30")  # a September day: before the window
    books.statement("2025-09", beijing(2025, 10, 2))
    books.statement("2025-10", beijing(2025, 11, 2))
    with db.read() as session:
        report = retention_status(session, NOW)
    assert (report.live_window_months, report.live_window_start, report.retention_floor) == (
        13, Month(2025, 10), Month(2021, 11))
    ages = {age.table: age for age in report.tables}
    payments = ages["payments"]
    assert (payments.rows, payments.older_than_live_window, payments.past_retention) == (3, 2, 1)
    assert payments.oldest == beijing(2021, 6, 1)
    assert (ages["refunds"].rows, ages["refunds"].past_retention) == (1, 1)
    assert (ages["settlements"].oldest, ages["settlements"].older_than_live_window) == ("2025-09-30", 1)
    assert (ages["statements"].oldest, ages["statements"].older_than_live_window) == ("2025-09", 1)
    entries, postings = ages["ledger_entries"], ages["ledger_postings"]
    # the ledger is dated by when entries were recorded: the settlement's entry (1 October) is live
    assert (entries.rows, entries.older_than_live_window, entries.past_retention) == (4, 2, 1)
    assert (postings.rows, postings.older_than_live_window, postings.past_retention) == (17, 10, 5)
    assert ages["collection_mode_changes"].rows == 0 and ages["collection_mode_changes"].oldest is None
    assert report.archivable


def test_the_live_window_is_configurable(db: Database, books: Books) -> None:
    books.payment(beijing(2026, 9, 30, 23, 59))
    books.payment(beijing(2026, 10, 1, 0, 0))
    with db.read() as session:
        wide = retention_status(session, NOW)
        narrow = retention_status(session, NOW, live_window_months=1)  # November and October are live
    assert not wide.archivable
    assert {a.table: a.older_than_live_window for a in narrow.tables}["payments"] == 1
    assert narrow.live_window_start == Month(2026, 10)
