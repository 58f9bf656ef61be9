"""``indiepay vault new-key | status | rotate | retire`` through typer's CliRunner, configured by env vars."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from indiepay.cli.main import app
from indiepay.db.engine import Database
from indiepay.vault.keyring import decode_kek, kek_id_of
from tests.vault.keys import Kek, kek_ids_in_db, open_everything, seed, vault_of


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    """A clean INDIEPAY_* environment whose key file (if one were created) would land in tmp_path."""
    for name in ("INDIEPAY_MASTER_KEY", "INDIEPAY_MASTER_KEY_FILE", "INDIEPAY_RETIRED_MASTER_KEYS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path / "var"))
    return monkeypatch


def run(*args: str) -> Result:
    return CliRunner().invoke(app, ["vault", *args])


def test_new_key_prints_a_fresh_32_byte_key_and_its_id(env: pytest.MonkeyPatch) -> None:
    result = run("new-key")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    assert len(decode_kek(key)) == 32 and "\n" not in key
    assert f"kek id: {kek_id_of(decode_kek(key))}" in result.stderr
    assert run("new-key").stdout.strip() != key


def test_rotate_status_and_retire_end_to_end(db: Database, env: pytest.MonkeyPatch) -> None:
    a, b = Kek(), Kek()
    seeded = seed(db, vault_of(a), merchants=3, accounts_per_merchant=2, platform_accounts=1)
    a_id, b_id = kek_id_of(a.key), kek_id_of(b.key)
    env.setenv("INDIEPAY_DATABASE_URL", db.url)
    env.setenv("INDIEPAY_MASTER_KEY", b.text)
    env.setenv("INDIEPAY_RETIRED_MASTER_KEYS", a.text)

    status = run("status")
    assert status.exit_code == 0, status.output
    assert f"{b_id:<18} current" in status.stdout and f"{a_id:<18} retired" in status.stdout
    assert f"{seeded.secrets} secret(s) are not under the current key" in status.stdout

    refused = run("retire", a_id)
    assert refused.exit_code == 1
    assert f"error (kek_still_in_use): {a_id} still wraps {seeded.secrets} secret(s)" in refused.stderr

    rotated = run("rotate", "--batch-size", "2")
    assert rotated.exit_code == 0, rotated.output
    assert re.search(r"channel_accounts +28 re-wrapped +0 already current", rotated.stdout)
    assert re.search(r"webhook_endpoints +3 re-wrapped +0 already current", rotated.stdout)
    assert "every secret is wrapped by the current key" in rotated.stdout
    assert kek_ids_in_db(db) == [b_id] * seeded.secrets

    again = run("rotate")
    assert again.exit_code == 0 and re.search(r"channel_accounts +0 re-wrapped +28 already current", again.stdout)

    allowed = run("retire", a_id)
    assert allowed.exit_code == 0, allowed.output
    assert "remove it from INDIEPAY_RETIRED_MASTER_KEYS" in allowed.stdout

    env.delenv("INDIEPAY_RETIRED_MASTER_KEYS")
    assert open_everything(db, vault_of(b)) == seeded
    after = run("status")
    assert after.exit_code == 0 and f"{b_id:<18} current" in after.stdout and a_id not in after.stdout


def test_rotate_reports_secrets_under_a_key_that_is_not_loaded(db: Database, env: pytest.MonkeyPatch) -> None:
    a, b = Kek(), Kek()
    seed(db, vault_of(a), merchants=1, accounts_per_merchant=1, platform_accounts=0)
    env.setenv("INDIEPAY_DATABASE_URL", db.url)
    env.setenv("INDIEPAY_MASTER_KEY", b.text)  # A forgotten in INDIEPAY_RETIRED_MASTER_KEYS

    result = run("rotate")

    assert result.exit_code == 1
    assert "error (vault_key_missing): 5 secret(s) could not be re-wrapped" in result.stderr
    assert f"vault_key_missing (kek {kek_id_of(a.key)})" in result.stderr
    assert f"{kek_id_of(a.key):<18} not loaded         5 secrets" in run("status").stdout


def test_the_current_key_cannot_be_retired(db: Database, env: pytest.MonkeyPatch) -> None:
    b = Kek()
    env.setenv("INDIEPAY_DATABASE_URL", db.url)
    env.setenv("INDIEPAY_MASTER_KEY", b.text)
    result = run("retire", kek_id_of(b.key))
    assert result.exit_code == 1 and "error (kek_is_current)" in result.stderr


def test_without_a_master_key_nothing_is_generated(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("INDIEPAY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    result = run("rotate")
    assert result.exit_code == 1 and "error (master_key_missing)" in result.stderr
    assert not (tmp_path / "var" / "master.key").exists()


def test_a_malformed_retired_key_is_a_clear_error(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("INDIEPAY_DATABASE_URL", f"sqlite:///{tmp_path / 'x.db'}")
    env.setenv("INDIEPAY_MASTER_KEY", Kek().text)
    env.setenv("INDIEPAY_RETIRED_MASTER_KEYS", "not-a-key")
    result = run("status")
    assert result.exit_code == 1
    assert "error (invalid_master_key): retired master key #1 is not URL-safe base64" in result.stderr
    env.setenv("INDIEPAY_RETIRED_MASTER_KEYS", Kek().text[:20])
    assert "error (invalid_master_key): retired master key #1 must be 32 bytes" in run("status").stderr
