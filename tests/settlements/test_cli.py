"""``indiepay settle --date``: prints the day's batches as a table or JSON (exit 0, idempotent), and
refuses a malformed date (exit 2) or a day that has not ended (exit 1) with a clear message."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from typer.testing import CliRunner

from indiepay.cli.main import app
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from tests.settlements.books import add_merchants, cst, owed, pay, refund

DAY = date(2025, 3, 10)


@pytest.fixture
def books(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Database:
    upgrade(sqlite_url)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    db = Database(sqlite_url)
    add_merchants(db, "mch_tea", "mch_cake")
    clock = FixedClock(cst(DAY, 9))
    with db.transaction() as session:
        pay(session, clock, "pay_1", "mch_tea", 10_000, cst(DAY, 9))
        pay(session, clock, "pay_2", "mch_cake", 2_000, cst(DAY, 9))
        refund(session, clock, "re_2", "pay_2", "mch_cake", payment_amount=2_000, amount=2_000, at=cst(DAY, 9, 30))
    db.dispose()
    return db


def test_settle_prints_json_and_is_idempotent(books: Database) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["settle", "--date", DAY.isoformat(), "--json"])
    assert first.exit_code == 0, first.output
    batches = json.loads(first.stdout)
    assert [(b["merchant_id"], b["status"], b["net_amount"]) for b in sorted(batches, key=lambda b: b["merchant_id"])] \
        == [("mch_cake", "nothing_to_pay", 0), ("mch_tea", "settled", owed(10_000))]
    tea = next(b for b in batches if b["merchant_id"] == "mch_tea")
    assert tea["payout"]["status"] == "pending" and tea["business_date"] == "2025-03-10"
    again = runner.invoke(app, ["settle", "--date", DAY.isoformat(), "--json"])
    assert again.exit_code == 0 and json.loads(again.stdout) == batches


def test_settle_prints_a_table(books: Database) -> None:
    result = CliRunner().invoke(app, ["settle", "--date", DAY.isoformat()])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "settlement 2025-03-10 (amounts in fen)"
    assert lines[1].split() == ["merchant", "cur", "carried_in", "payments", "refunds", "platform_fee",
                                "channel_fee", "other", "net", "payout", "status"]
    assert lines[2].split() == ["mch_cake", "CNY", "0", "2000", "2000", "0", "0", "0", "0", "0", "nothing_to_pay"]
    assert lines[3].split()[0] == "mch_tea" and lines[3].split()[-2:] == [str(owed(10_000)), "settled"]
    assert lines[-1] == f"2 batch(es); to pay out: CNY {owed(10_000)}"
    empty = CliRunner().invoke(app, ["settle", "--date", "2025-01-01"])
    assert empty.exit_code == 0 and "2025-01-01: nothing to settle" in empty.stdout


@pytest.mark.parametrize("bad", ["2025-3-10", "10/03/2025", "2025-02-30", "tomorrow"])
def test_settle_refuses_a_malformed_date(books: Database, bad: str) -> None:
    result = CliRunner().invoke(app, ["settle", "--date", bad])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.stderr or "not a calendar date" in result.stderr


def test_settle_refuses_a_day_that_has_not_ended(books: Database) -> None:
    tomorrow = (date.today() + timedelta(days=2)).isoformat()
    result = CliRunner().invoke(app, ["settle", "--date", tomorrow])
    assert result.exit_code == 1
    assert "settlement_day_not_over" in result.stderr
    assert CliRunner().invoke(app, ["settle"]).exit_code != 0  # --date is required
