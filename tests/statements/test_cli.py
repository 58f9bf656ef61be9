"""``indiepay statement``: JSON to stdout, CSV / XLSX to a file, stable errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from indiepay.cli.main import app
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import postings as p
from tests.statements.conftest import add_merchant, post


@pytest.fixture
def books(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    add_merchant(db, "mch_cli")
    post(db, "payment_succeeded:pay_1", p.payment_succeeded(mode="independent", channel="alipay",
                                                            merchant_id="mch_cli", amount=5_000, channel_fee=30,
                                                            platform_fee=5), datetime(2025, 3, 10, tzinfo=UTC))
    db.dispose()
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    return sqlite_url


def test_statement_command(books: str, tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03"])
    assert shown.exit_code == 0, shown.output
    statement = json.loads(shown.stdout)
    assert statement["status"] == "final" and statement["body"]["summary"]["gross"] == 5_000

    csv_file = tmp_path / "march.csv"
    written = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03", "--format", "csv",
                                  "--out", str(csv_file)])
    assert written.exit_code == 0, written.output
    assert csv_file.read_bytes().startswith(b"\xef\xbb\xbf") and "50.00,5000" in csv_file.read_text("utf-8-sig")

    xlsx_file = tmp_path / "march.xlsx"
    assert runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03", "--format", "xlsx",
                               "--out", str(xlsx_file)]).exit_code == 0
    assert load_workbook(xlsx_file).sheetnames[0] == "汇总 Summary"

    tax = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03", "--tax-summary"])
    assert tax.exit_code == 0 and json.loads(tax.stdout)["taxable_sales"] == 5_000


def test_statement_command_errors(books: str) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-13"])
    assert bad.exit_code == 1 and "invalid_month" in bad.stderr
    missing = runner.invoke(app, ["statement", "--merchant", "mch_nobody", "--month", "2025-03"])
    assert missing.exit_code == 1 and "merchant_not_found" in missing.stderr
    binary = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03", "--format", "xlsx"])
    assert binary.exit_code == 2
    wrong = runner.invoke(app, ["statement", "--merchant", "mch_cli", "--month", "2025-03", "--format", "pdf"])
    assert wrong.exit_code == 2
