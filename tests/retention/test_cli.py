"""``indiepay archive export | verify | status`` through the CLI, with the real clock (so the records are
dated well in the past), registered on the main ``indiepay`` app."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from indiepay.cli.main import app
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from tests.retention.conftest import Books, beijing

runner = CliRunner()


@pytest.fixture
def database(sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    upgrade(sqlite_url)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    db = Database(sqlite_url)
    books = Books(db)
    payment = books.payment(beijing(2024, 3, 1))
    books.refund(payment, beijing(2024, 3, 2))
    books.payment(beijing(2025, 6, 30, 23, 59))
    books.settlement(beijing(2025, 7, 1, 2), day="2025-06-30")
    db.dispose()
    return db


def output(result: object) -> str:
    return str(getattr(result, "output", "")) + str(getattr(result, "stderr", "") or "")


def test_export_then_verify(database: Database, tmp_path: Path) -> None:
    exported = runner.invoke(app, ["archive", "export", "--before", "2025-07"])
    assert exported.exit_code == 0, output(exported)
    directory = tmp_path / "var" / "archive" / "before-2025-07"
    assert f"archive written to {directory}" in exported.output
    assert "ledger chain: sequences 1..2" in exported.output and "manifest.json sha256" in exported.output
    verified = runner.invoke(app, ["archive", "verify", str(directory), "--against-database"])
    assert verified.exit_code == 0, output(verified)
    assert "archive OK:" in verified.output and "ledger sequences 1..2 chain intact; matches the database" in (
        verified.output)
    (directory / "refunds" / "2024-03.jsonl.gz").write_bytes(b"not gzip")
    broken = runner.invoke(app, ["archive", "verify", str(directory)])
    assert broken.exit_code == 1
    assert "archive BROKEN: refunds/2024-03.jsonl.gz: SHA-256 differs" in output(broken)


def test_export_with_since_and_out(database: Database, tmp_path: Path) -> None:
    result = runner.invoke(app, ["archive", "export", "--since", "2025-01", "--before", "2025-07",
                                 "--out", str(tmp_path / "h1")])
    assert result.exit_code == 0, output(result)
    assert "ledger chain: sequences 2..2" in result.output
    assert runner.invoke(app, ["archive", "verify", str(tmp_path / "h1"), "--against-database"]).exit_code == 0


def test_export_refusals(database: Database, tmp_path: Path) -> None:
    malformed = runner.invoke(app, ["archive", "export", "--before", "2025-7"])
    assert malformed.exit_code == 2 and "--before: not a month" in output(malformed)
    future = runner.invoke(app, ["archive", "export", "--before", "2999-01", "--out", str(tmp_path / "f")])
    assert future.exit_code == 1 and "month_not_closed" in output(future)
    missing = runner.invoke(app, ["archive", "verify", str(tmp_path / "nowhere")])
    assert missing.exit_code == 1 and "cannot read" in output(missing)


def test_status(database: Database) -> None:
    result = runner.invoke(app, ["archive", "status"])
    assert result.exit_code == 0, output(result)
    assert "live window: 13 months" in result.output and "retention: at least 5 years" in result.output
    payments = next(line for line in result.output.splitlines() if line.startswith("payments "))
    assert payments.split()[1:3] == ["2", "2024-03-01T04:00:00+00:00"]
    assert "archive them with: indiepay archive export --before" in result.output
    negative = runner.invoke(app, ["archive", "status", "--live-window-months", "-1"])
    assert negative.exit_code == 2 and "invalid_live_window" in output(negative)
