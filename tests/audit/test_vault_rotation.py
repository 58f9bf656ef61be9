"""``indiepay vault rotate`` leaves a ``vault.rotated`` event (actor and origin ``cli``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from indiepay.audit.service import list_events
from indiepay.cli.main import app
from indiepay.db.engine import Database
from indiepay.merchants.auth import ADMIN
from indiepay.vault.keyring import kek_id_of
from tests.vault.keys import Kek, seed, vault_of


def test_vault_rotate_is_audited(db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    a, b = Kek(), Kek()
    seed(db, vault_of(a), merchants=1, accounts_per_merchant=1, platform_accounts=0)
    for name in ("INDIEPAY_MASTER_KEY_FILE",):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", db.url)
    monkeypatch.setenv("INDIEPAY_MASTER_KEY", b.text)
    monkeypatch.setenv("INDIEPAY_RETIRED_MASTER_KEYS", a.text)
    result = CliRunner().invoke(app, ["vault", "rotate"])
    assert result.exit_code == 0, result.output
    with db.read() as session:
        events = [e for e in list_events(session, ADMIN) if e.action == "vault.rotated"]
    assert len(events) == 1
    event = events[0]
    assert (event.actor, event.origin, event.result, event.target_id) == ("cli", "cli", "ok", kek_id_of(b.key))
    assert event.details["rewrapped"] > 0 and event.details["failures"] == 0
    assert CliRunner().invoke(app, ["audit", "verify"]).exit_code == 0
