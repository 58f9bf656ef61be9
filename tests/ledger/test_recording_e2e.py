"""The payment core posts live money to the ledger: one entry per succeeded payment and refund, never
twice, and the ledger verifies (chain, balanced entries, zero total) after a real flow on SQLite and
PostgreSQL. Test-mode (sandbox) payments stay out of the books, and the ledger API is live-only.

A production account cannot reach a real channel here, so the test points that account's gateway at the
built-in sandbox (a database edit only a test may make)."""

from __future__ import annotations

import httpx

from tests.support.platform import MerchantClient, PlatformUnderTest


def live_alipay_account(platform: PlatformUnderTest, merchant: MerchantClient) -> dict:
    credentials = httpx.post(f"{platform.sandbox}/alipay/_provision", json={}, timeout=30).json()["credentials"]
    created = merchant.live.post("/v1/channel_accounts", json={
        "channel": "alipay", "environment": "production", "credentials": credentials})
    assert created.status_code == 201, created.text
    account = dict(created.json())
    platform.sql("UPDATE channel_accounts SET base_url = :url WHERE id = :id",
                 url=f"{platform.sandbox}/alipay/gateway.do", id=account["id"])
    return account


def wait_live(merchant: MerchantClient, path: str, wanted: str) -> dict:
    import time

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        body = merchant.live.get(path).json()
        if body.get("status") == wanted:
            return dict(body)
        time.sleep(0.05)
    raise AssertionError(f"{path} did not reach {wanted}")


def test_live_payments_and_refunds_are_posted_once(any_platform: PlatformUnderTest) -> None:
    from indiepay.ledger import verify
    from indiepay.payments.sync import query_and_apply

    merchant = any_platform.merchant()
    live_alipay_account(any_platform, merchant)
    body = {"amount": 10_000, "currency": "CNY", "out_trade_no": "LIVE-LEDGER-1", "description": "tea",
            "method": "alipay_qr"}
    payment = merchant.live.post("/v1/payments", json=body).json()
    assert payment["livemode"] is True
    httpx.post(f"{any_platform.sandbox}/alipay/_buyer/pay", json={"qr_code": payment["action"]["code_url"]})
    wait_live(merchant, f"/v1/payments/{payment['id']}", "succeeded")
    for amount in (3_333, 6_667):  # partial, then the rest
        refund = merchant.live.post("/v1/refunds", json={"payment_id": payment["id"], "amount": amount}).json()
        wait_live(merchant, f"/v1/refunds/{refund['id']}", "succeeded")
    query_and_apply(any_platform.runtime.ctx, payment["id"], source="test")  # re-applies and posts nothing

    entries = merchant.live.get("/v1/ledger/entries").json()
    assert sorted(e["event_type"] for e in entries["data"]) == ["payment_succeeded", "refund_succeeded",
                                                                "refund_succeeded"]
    assert all(sum(p["amount"] for p in e["postings"]) == 0 for e in entries["data"])
    balances = {b["account"]: b["natural"] for b in merchant.live.get("/v1/ledger/balances").json()["data"]}
    mid = merchant.id
    assert balances[f"memo_clearing:{mid}:alipay:CNY"] == 0  # fully refunded: nothing left in clearing
    assert balances[f"memo_channel_fee:{mid}:alipay:CNY"] == 0  # and the channel fee came back in full
    assert abs(balances[f"memo_sales:{mid}:CNY"]) == 10_000
    assert abs(balances[f"memo_refunds:{mid}:CNY"]) == 10_000
    stranger = any_platform.merchant("Stranger")
    assert stranger.live.get("/v1/ledger/entries").json()["data"] == []
    assert stranger.live.get("/v1/ledger/balances").json()["data"] == []
    everything = any_platform.admin.get("/v1/ledger/balances").json()["data"]
    assert sum(b["balance"] for b in everything) == 0
    with any_platform.runtime.ctx.db.read() as session:
        result = verify.verify(session)
    assert result.ok, result.reason


def test_test_mode_money_stays_out_of_the_books(any_platform: PlatformUnderTest) -> None:
    merchant, other = any_platform.merchant("A"), any_platform.merchant("B")
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native").json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert any_platform.admin.get("/v1/ledger/entries").json()["data"] == []
    refused = merchant.api.get("/v1/ledger/balances")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "livemode_required"
    assert other.live.get("/v1/ledger/entries").json()["data"] == []
