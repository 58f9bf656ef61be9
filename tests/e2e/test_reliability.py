"""Unknown outcomes, lost callbacks, expiry, late payments and webhook retries."""

from __future__ import annotations

import time

import httpx
from fastapi import FastAPI, Request, Response

from tests.support.platform import PlatformUnderTest
from tests.support.servers import serve_in_thread
from tests.support.webhooks import webhook_inbox


def set_faults(platform: PlatformUnderTest, channel: str, ident: dict[str, str], **knobs: object) -> None:
    response = httpx.post(f"{platform.sandbox}/{channel}/_faults", json={**ident, **knobs}, timeout=30)
    assert response.status_code < 300, response.text


def clear_faults(platform: PlatformUnderTest, channel: str, ident: dict[str, str]) -> None:
    httpx.delete(f"{platform.sandbox}/{channel}/_faults", params=ident, timeout=30)


def test_hanging_gateway_leaves_payment_pending_until_a_query_resolves_it(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account("wechatpay")
    ident = {"mchid": creds["mchid"]}
    payment = merchant.create_payment("wechat_native").json()
    set_faults(platform, "wechatpay", ident, drop_callbacks=100)  # the callback is lost
    merchant.pay(payment)
    set_faults(platform, "wechatpay", ident, hang_seconds=8)  # longer than the 5 s channel timeout
    platform.run_jobs_now("payment.query")
    time.sleep(6)
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    calls = platform.sql("SELECT outcome FROM channel_calls WHERE operation = 'query'")
    assert calls and all(row[0] != "ok" for row in calls)
    clear_faults(platform, "wechatpay", ident)
    set_faults(platform, "wechatpay", ident, drop_callbacks=100)
    platform.run_jobs_now("payment.query")
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded", timeout=30)


def test_prepay_timeout_is_pending_not_failed(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account("alipay")
    set_faults(platform, "alipay", {"app_id": creds["app_id"]}, hang_seconds=7)
    response = merchant.create_payment("alipay_qr")
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["code"] == "channel_unavailable"
    payment = merchant.api.get(f"/v1/payments/{error['details']['payment_id']}").json()
    assert payment["status"] == "pending"


def test_expired_payment_is_closed_at_the_channel_by_the_worker(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", expires_in_seconds=60).json()
    platform.clock.offset = platform.clock.offset.__class__(seconds=61)
    platform.run_jobs_now("payment.expire")
    merchant.wait_status(f"/v1/payments/{payment['id']}", "closed")
    order = httpx.get(f"{platform.sandbox}/wechatpay/_orders/{creds['mchid']}/{payment['out_trade_no']}").json()
    assert order["trade_state"] == "CLOSED"
    assert merchant.pay(payment).status_code >= 400


def test_money_after_close_is_recorded_and_alerted(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("alipay")
    payment = merchant.create_payment("alipay_qr").json()
    # the platform believes the payment closed while the channel still takes the buyer's money
    platform.sql("UPDATE payments SET status = 'closed' WHERE id = :id", id=payment["id"])
    assert merchant.pay(payment).status_code < 300
    paid = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert paid["late_payment"] is True
    alerts = platform.sql("SELECT kind, merchant_id FROM alerts")
    assert [tuple(a) for a in alerts] == [("late_payment", merchant.id)]


def test_webhook_retries_with_backoff_and_logs_each_attempt(platform: PlatformUnderTest) -> None:
    answers = [500, 503]
    received: list[bytes] = []
    app = FastAPI()

    @app.post("/hooks")
    async def hooks(request: Request) -> Response:
        received.append(await request.body())
        return Response(status_code=answers.pop(0) if answers else 200)

    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    with serve_in_thread(app) as url:
        merchant.api.put("/v1/webhook_endpoint", json={"url": f"{url}/hooks"})
        payment = merchant.create_payment("wechat_native").json()
        merchant.pay(payment)
        merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
        for _ in range(3):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and len(received) < 3:
                platform.run_jobs_now("webhook.deliver")
                time.sleep(0.1)
        assert len(received) == 3
        log = merchant.api.get("/v1/webhook_deliveries").json()
        assert sorted((d["attempt"], d["status_code"]) for d in log) == [(1, 500), (2, 503), (3, 200)]
        assert len({r for r in received}) == 1  # the same event body every time
        assert platform.sql("SELECT status FROM jobs WHERE kind = 'webhook.deliver'") == [("done",)]


def test_webhooks_from_the_demo_inbox_reject_bad_signatures(platform: PlatformUnderTest) -> None:
    with webhook_inbox() as (inbox, url):
        inbox.secret = "whsec_right"
        bad = httpx.post(url, content=b"{}", headers={"IndiePay-Signature": f"t={int(time.time())},v1=00"})
        assert bad.status_code == 400 and inbox.rejected == 1


def test_checkout_recovers_the_buyer_action_after_an_unknown_prepay(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account("wechatpay")
    set_faults(platform, "wechatpay", {"mchid": creds["mchid"]}, fail_with_500=1)
    response = merchant.create_payment("wechat_native", amount=777)
    assert response.status_code == 502
    payment_id = response.json()["error"]["details"]["payment_id"]
    assert merchant.api.get(f"/v1/payments/{payment_id}").json()["action"] is None
    page = httpx.get(f"{platform.base_url}/pay/{payment_id}")  # the buyer arrives: ask the channel again
    assert page.status_code == 200 and 'id="qr"' in page.text
    payment = merchant.api.get(f"/v1/payments/{payment_id}").json()
    assert payment["action"]["type"] == "qr_code"
    assert merchant.pay(payment).status_code == 200
    merchant.wait_status(f"/v1/payments/{payment_id}", "succeeded")
