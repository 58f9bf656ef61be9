"""Tenancy (A never sees B; test keys never reach production), idempotency, and no secret ever shown."""

from __future__ import annotations

import logging
import secrets

import httpx
import pytest

from tests.support.platform import PlatformUnderTest


def test_merchants_cannot_see_each_other(platform: PlatformUnderTest) -> None:
    a, b = platform.merchant("A"), platform.merchant("B")
    b_account = b.sandbox_account("wechatpay")
    a.sandbox_account("wechatpay")
    b_payment = b.create_payment().json()
    b.pay(b_payment)
    b.wait_status(f"/v1/payments/{b_payment['id']}", "succeeded")
    b_refund = b.api.post("/v1/refunds", json={"payment_id": b_payment["id"], "amount": 1}).json()
    for path in (f"/v1/payments/{b_payment['id']}", f"/v1/refunds/{b_refund['id']}",
                 f"/v1/channel_accounts/{b_account['id']}", f"/v1/merchants/{b.id}"):
        response = a.api.get(path)
        assert response.status_code == 404, path
    assert a.api.post(f"/v1/payments/{b_payment['id']}/close").status_code == 404
    assert a.api.post("/v1/refunds", json={"payment_id": b_payment["id"], "amount": 1}).status_code == 404
    assert b_payment["id"] not in a.api.get("/v1/payments").text
    assert all(acc["merchant_id"] == a.id for acc in a.api.get("/v1/channel_accounts").json())


def test_test_and_live_keys_are_separate_worlds(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    sandbox_account = merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment().json()
    # the live key sees neither the sandbox account nor the test payment, and cannot pay through sandbox
    assert merchant.live.get(f"/v1/channel_accounts/{sandbox_account['id']}").status_code == 404
    assert merchant.live.get(f"/v1/payments/{payment['id']}").status_code == 404
    live_payment = merchant.live.post("/v1/payments", json={
        "amount": 100, "currency": "CNY", "out_trade_no": "LIVE-000001", "description": "x",
        "method": "wechat_native"})
    assert live_payment.status_code == 422 and live_payment.json()["error"]["code"] == "no_channel_account"
    # a test key cannot create a production account, nor a live key a sandbox one
    prod = merchant.api.post("/v1/channel_accounts", json={
        "channel": "alipay", "environment": "production", "credentials": {"app_id": "x"}})
    assert prod.status_code == 403 and prod.json()["error"]["code"] == "environment_mismatch"
    live_sandbox = merchant.live.post("/v1/channel_accounts", json={"channel": "alipay", "sandbox": True})
    assert live_sandbox.status_code == 403


def test_idempotency_replays_and_rejects_changed_bodies(platform: PlatformUnderTest) -> None:
    a, b = platform.merchant("A"), platform.merchant("B")
    a.sandbox_account("alipay")
    b.sandbox_account("alipay")
    key = secrets.token_hex(8)
    body = {"amount": 321, "currency": "CNY", "out_trade_no": "IDEM-000001", "description": "x", "method": "alipay_qr"}
    first = a.api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    again = a.api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == again.status_code == 201
    assert first.json() == again.json()
    listed = a.api.get("/v1/payments").json()["data"]
    assert len(listed) == 1
    with platform.runtime.ctx.db.transaction() as session:
        from sqlalchemy import text

        prepays = session.execute(text("SELECT count(*) FROM channel_calls WHERE operation = 'prepay'")).scalar()
    assert prepays == 1  # one channel call for two requests
    changed = a.api.post("/v1/payments", json={**body, "amount": 322}, headers={"Idempotency-Key": key})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    # keys are per merchant: B may use the same key for its own request
    other = b.api.post("/v1/payments", json=body, headers={"Idempotency-Key": key})
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    # an error response is replayed too
    dup_key = secrets.token_hex(8)
    dup1 = a.api.post("/v1/payments", json=body, headers={"Idempotency-Key": dup_key})
    dup2 = a.api.post("/v1/payments", json=body, headers={"Idempotency-Key": dup_key})
    assert dup1.status_code == dup2.status_code == 409 and dup1.json() == dup2.json()


def test_no_secret_in_responses_pages_or_logs(platform: PlatformUnderTest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    merchant = platform.merchant()
    provisioned = {}
    for channel in ("wechatpay", "alipay"):
        response = httpx.post(f"{platform.sandbox}/{channel}/_provision", json={}, timeout=30)
        provisioned[channel] = response.json()["credentials"]
    seen: list[str] = []
    for channel, creds in provisioned.items():
        created = merchant.api.post("/v1/channel_accounts", json={
            "channel": channel, "environment": "sandbox", "credentials": creds})
        assert created.status_code == 201, created.text
        seen += [created.text, merchant.api.get(f"/v1/channel_accounts/{created.json()['id']}").text]
    seen.append(merchant.api.get("/v1/channel_accounts").text)
    payment = merchant.create_payment("wechat_native").json()
    seen.append(httpx.get(payment["checkout_url"]).text)
    seen.append(httpx.get(f"{platform.base_url}/openapi.json").text)
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    seen.append(caplog.text)
    secrets_ = [provisioned["wechatpay"]["apiv3_key"], provisioned["wechatpay"]["merchant_private_key"],
                provisioned["alipay"]["app_private_key"]]
    for secret in secrets_:
        body = "".join(line for line in secret.splitlines() if not line.startswith("-----"))
        for text in seen:
            assert secret not in text
            assert body[20:60] not in text
    with platform.runtime.ctx.db.transaction() as session:
        from sqlalchemy import text as sql

        stored = str(session.execute(sql("SELECT credentials FROM channel_accounts")).all())
    assert provisioned["wechatpay"]["apiv3_key"] not in stored
