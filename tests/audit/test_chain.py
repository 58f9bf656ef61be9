"""The audit chain at the database: append, triggers refuse changes, and ``indiepay audit verify`` finds a
row changed by someone who dropped the trigger first (as an attacker owning the tables would)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from indiepay.audit.service import list_events, record, verify
from indiepay.cli.main import app
from indiepay.core.clock import SystemClock
from indiepay.db.engine import Database
from indiepay.merchants.auth import ADMIN, Principal


def _seed(db: Database, n: int = 5) -> None:
    for i in range(n):
        with db.transaction() as session:
            record(session, SystemClock(), actor="admin", action="merchant.suspended", target_type="merchant",
                   target_id=f"mch_{i}", merchant_id=f"mch_{i % 2}", origin="127.0.0.1",
                   details={"reason": f"reason {i}", "n": i})


def _drop_update_trigger(db: Database) -> None:
    with db.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER audit_events_refuse_update"
                                + (" ON audit_events" if db.is_postgres else "")))


def test_chain_verifies_and_triggers_refuse_changes(db: Database) -> None:
    _seed(db)
    with db.read() as session:
        result = verify(session)
    assert result.ok and result.events_checked == 5 and result.head_sequence == 5
    for statement in ("UPDATE audit_events SET result = 'refused' WHERE sequence = 2",
                      "DELETE FROM audit_events WHERE sequence = 5"):
        with pytest.raises(DBAPIError), db.engine.begin() as connection:
            connection.execute(text(statement))
    with db.read() as session:
        assert verify(session).ok
        mine = list_events(session, Principal(role="merchant", merchant_id="mch_1", livemode=False))
        assert [e.target_id for e in mine] == ["mch_1", "mch_3"]
        assert len(list_events(session, ADMIN)) == 5


def test_a_changed_row_is_found_by_audit_verify(db: Database, monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    _seed(db)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", db.url)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0, ok.output
    assert "5 events" in ok.stdout

    _drop_update_trigger(db)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET origin = '10.0.0.9' WHERE sequence = 3"))
    broken = CliRunner().invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "broken at sequence 3" in broken.stderr and "changed row" in broken.stderr


def test_a_recomputed_hash_still_breaks_the_link(db: Database) -> None:
    """An attacker who also recomputes the changed row's hash breaks the next row's prev_hash instead."""
    _seed(db)
    _drop_update_trigger(db)
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET hash = :h WHERE sequence = 4"), {"h": "f" * 64})
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 4
