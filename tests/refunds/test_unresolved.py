"""A refund the channel never settles: after its last query the job stops with an alert, and the refund
stays processing with its amount reserved (never guessed failed or succeeded)."""

from __future__ import annotations

import httpx

from tests.support.platform import PlatformUnderTest


def test_a_refund_the_channel_never_settles_ends_in_an_alert(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, credentials = merchant.own_sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=5_000).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": credentials["mchid"],
                                                              "fail_with_500": 1000}, timeout=30)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 1_000}).json()
    assert refund["status"] == "processing"
    platform.sql("UPDATE refunds SET query_attempts = 47 WHERE id = :id", id=refund["id"])
    platform.run_jobs_until_one_is_done("refund.sync")
    alerts = merchant.api.get("/v1/alerts", params={"kind": "refund_unresolved"}).json()["data"]
    assert len(alerts) == 1 and alerts[0]["details"]["refund_id"] == refund["id"]
    assert alerts[0]["severity"] == "high"
    assert merchant.api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "processing"
    too_much = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 4_001})
    assert too_much.json()["error"]["code"] == "refund_exceeds_refundable"
