"""The platform under the sandbox's fault knobs: duplicated callbacks, SIGNTEST probes, delayed callbacks,
and a gateway answering 500."""

from __future__ import annotations

import time

import httpx

from tests.support.platform import PlatformUnderTest
from tests.support.webhooks import webhook_inbox


def test_duplicates_probes_and_delays_still_make_one_payment(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("wechatpay")
    with webhook_inbox() as (inbox, url):
        inbox.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": url}).json()["secret"]
        httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={
            "mchid": creds["mchid"], "duplicate_callbacks": True, "signtest_probe": True,
            "callback_delay_seconds": 0.3})
        payment = merchant.create_payment("wechat_native").json()
        merchant.pay(payment)
        merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
        inbox.wait_for("payment.succeeded", payment["id"])
        deadline = time.monotonic() + 5
        log: list[dict] = []
        while time.monotonic() < deadline:
            response = httpx.get(f"{platform.sandbox}/wechatpay/_callbacks", params={"mchid": creds["mchid"]})
            log = response.json()["deliveries"]
            if any(e.get("kind") == "duplicate" for e in log):
                break
            time.sleep(0.05)
        kinds = {e["kind"]: e["status"] for e in log}
        assert kinds["signtest_probe"] >= 400  # the probe is refused
        assert kinds["delivery"] in (200, 204) and kinds["duplicate"] in (200, 204)
        time.sleep(0.3)
    assert platform.sql("SELECT type FROM events") == [("payment.succeeded",)]
    assert [e["type"] for e in inbox.events] == ["payment.succeeded"]
    assert platform.sql("SELECT count(*) FROM received_notifications") == [(1,)]
    assert platform.sql("SELECT reason FROM rejected_notifications WHERE account_id = :a", a=account["id"]) == [
        ("verification_failed",)]


def test_gateway_500_on_prepay_is_an_unknown_outcome_not_a_failure(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account("wechatpay")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": creds["mchid"], "fail_with_500": 1})
    response = merchant.create_payment("wechat_native")
    assert response.status_code == 502 and response.json()["error"]["code"] == "channel_unavailable"
    payment_id = response.json()["error"]["details"]["payment_id"]
    assert merchant.api.get(f"/v1/payments/{payment_id}").json()["status"] == "pending"
    # the next payment goes through: the knob was for one call
    assert merchant.create_payment("wechat_native").status_code == 201
