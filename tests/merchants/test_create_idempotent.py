"""``POST /v1/merchants`` under an ``Idempotency-Key`` over real loopback HTTP: the raw API keys are shown
once, in the first answer, and nowhere at rest — the idempotency store keeps the answer with them taken out,
so a repeat names the same merchant without them. The other idempotent creations that involve a secret
(channel accounts: credentials in, fingerprints out) store no secret either."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import inspect, select

from indiepay.idempotency.models import IdempotencyRecord
from tests.support.platform import PlatformUnderTest

BODY = {"name": "Idem Ltd.", "short_name": "Idem", "subject_type": "enterprise"}


def holders(platform: PlatformUnderTest, secret: str) -> list[str]:
    """Every table.column whose text holds ``secret``."""
    found = []
    tables = inspect(platform.runtime.ctx.db.engine)
    for table in tables.get_table_names():
        for column in tables.get_columns(table):
            name = column["name"]
            hits = platform.sql(f'SELECT count(*) FROM "{table}" WHERE CAST("{name}" AS TEXT) LIKE :s',
                                s=f"%{secret}%")
            if hits[0][0]:
                found.append(f"{table}.{name}")
    return found


def stored_answer(platform: PlatformUnderTest, key: str) -> Any:
    rows = platform.sql("SELECT response_status, response_body FROM idempotency_keys WHERE key = :k", k=key)
    assert len(rows) == 1
    return rows[0]


def test_the_keys_are_shown_once_and_a_repeat_names_the_merchant_without_them(platform: PlatformUnderTest) -> None:
    first = platform.admin.post("/v1/merchants", json=BODY, headers={"Idempotency-Key": "onboard-1"})
    assert first.status_code == 201, first.text
    made = first.json()
    keys = made["api_keys"]
    assert keys["test"].startswith("sk_test_") and keys["live"].startswith("sk_live_")
    assert made["api_keys_redacted"] is False
    for raw in keys.values():
        assert holders(platform, raw) == [], raw  # hashed at rest, nowhere in the clear

    replay = platform.admin.post("/v1/merchants", json=BODY, headers={"Idempotency-Key": "onboard-1"})
    assert replay.status_code == 201, replay.text
    again = replay.json()
    assert again["id"] == made["id"] and again["created_at"] == made["created_at"]
    assert again["api_keys"] is None and again["api_keys_redacted"] is True
    assert {k: v for k, v in again.items() if not k.startswith("api_keys")} == {
        k: v for k, v in made.items() if not k.startswith("api_keys")}
    assert keys["test"] not in replay.text and keys["live"] not in replay.text
    assert platform.sql("SELECT count(*) FROM merchants WHERE name = 'Idem Ltd.'") == [(1,)]

    # the keys of the first answer are the merchant's, and they work
    for raw in keys.values():
        seen = platform.admin.get(f"/v1/merchants/{made['id']}", headers={"Authorization": f"Bearer {raw}"})
        assert seen.status_code == 200 and seen.json()["api_keys"] is None
    changed = platform.admin.post("/v1/merchants", json={**BODY, "short_name": "Other"},
                                  headers={"Idempotency-Key": "onboard-1"})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    plain = platform.admin.post("/v1/merchants", json={**BODY, "name": "No Key Ltd."})  # no key: nothing stored
    assert plain.status_code == 201 and plain.json()["api_keys"]["live"].startswith("sk_live_")
    assert holders(platform, plain.json()["api_keys"]["live"]) == []


def test_an_answer_stored_with_the_keys_before_is_replayed_and_kept_without_them(
        platform: PlatformUnderTest) -> None:
    """A stored answer written before the keys were taken out: replayed without them, and rewritten so."""
    first = platform.admin.post("/v1/merchants", json=BODY, headers={"Idempotency-Key": "onboard-old"})
    assert first.status_code == 201, first.text
    made = first.json()
    legacy = {**made, "api_keys": {"test": "sk_test_legacy0000", "live": "sk_live_legacy0000"}}
    legacy.pop("api_keys_redacted")
    with platform.runtime.ctx.db.transaction() as session:
        record = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.key == "onboard-old")).one()
        record.response_body = legacy
    replay = platform.admin.post("/v1/merchants", json=BODY, headers={"Idempotency-Key": "onboard-old"})
    assert replay.status_code == 201 and replay.json()["id"] == made["id"]
    assert replay.json()["api_keys"] is None and replay.json()["api_keys_redacted"] is True
    assert "sk_live_legacy0000" not in replay.text
    assert holders(platform, "sk_live_legacy0000") == []  # the stored answer was rewritten


def test_a_channel_account_created_under_a_key_stores_no_credential(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    credentials = httpx.post(f"{platform.sandbox}/wechatpay/_provision", json={}, timeout=30).json()["credentials"]
    body = {"channel": "wechatpay", "environment": "sandbox", "credentials": credentials}
    first = merchant.api.post("/v1/channel_accounts", json=body, headers={"Idempotency-Key": "acct-1"})
    assert first.status_code == 201, first.text
    replay = merchant.api.post("/v1/channel_accounts", json=body, headers={"Idempotency-Key": "acct-1"})
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    status, stored = stored_answer(platform, "acct-1")
    assert status == 201
    secrets = [value for value in credentials.values() if isinstance(value, str) and len(value) >= 16]
    assert secrets
    for secret in secrets:
        assert secret not in str(stored) and secret not in replay.text


def test_the_migration_takes_the_keys_out_of_answers_stored_before(tmp_path: Path) -> None:
    """Answers stored before the endpoint kept the keys out still held them in the clear: migration 0030
    rewrites each as the endpoint stores it now, and leaves every other stored answer as it was."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from indiepay.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'keys.db'}"
    command.upgrade(alembic_config(url), "0029")
    stored = {"id": "mch_1", "name": "Tea", "api_keys": {"test": "sk_test_abc", "live": "sk_live_def"}}
    other = {"id": "pay_1", "api_keys": {"test": "not a key"}}
    engine = create_engine(url)
    with engine.begin() as connection:
        for row_id, scope, body in (("idk_1", "admin:live", stored), ("idk_2", "mch_1:test", other)):
            connection.execute(text(
                "INSERT INTO idempotency_keys (id, scope, key, request_hash, status, response_status, response_body,"
                " created_at) VALUES (:id, :scope, 'k', 'h', 'done', 201, :body, '2026-11-27 00:00:00')"),
                {"id": row_id, "scope": scope, "body": json.dumps(body)})
    command.upgrade(alembic_config(url), "head")
    with engine.connect() as connection:
        bodies = dict(connection.execute(text("SELECT id, response_body FROM idempotency_keys")).all())
    engine.dispose()
    assert json.loads(bodies["idk_1"]) == {"id": "mch_1", "name": "Tea", "api_keys": None, "api_keys_redacted": True}
    assert json.loads(bodies["idk_2"]) == other
    assert "sk_live_def" not in str(bodies)
