"""``indiepay ledger verify``: exit 0 on an intact ledger, non-zero naming the first broken entry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from indiepay.cli.ledger import app
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import postings as p
from indiepay.ledger import service
from tests.ledger.tamper import tamper


def test_verify_command(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(sqlite_url)
    db = Database(sqlite_url)
    with db.transaction() as session:
        for n in range(3):
            service.post(session, FixedClock(datetime(2026, 11, 25, tzinfo=UTC)), event_key=f"settlement:{n}",
                         plan=p.settlement(merchant_id="mch_a", amount=100 + n))
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    runner = CliRunner()
    ok = runner.invoke(app, ["verify"])
    assert ok.exit_code == 0 and "ledger OK: 3 entries" in ok.output, ok.output
    tamper(db, "UPDATE ledger_entries SET description = 'edited' WHERE sequence = 2")  # guards dropped first
    db.dispose()
    broken = runner.invoke(app, ["verify"])
    assert broken.exit_code == 1
    assert "BROKEN at sequence 2" in broken.output + (broken.stderr or "")
