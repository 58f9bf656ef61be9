"""The whole story over real loopback HTTP, on every channel, on SQLite and PostgreSQL:
create → buyer pays → callback → succeeded → webhook → partial refund → refund succeeded → webhook."""

from __future__ import annotations

import pytest

from tests.support.platform import PlatformUnderTest
from tests.support.webhooks import webhook_inbox


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr"),
                                            ("unionpay", "unionpay_qr")])
def test_full_flow(any_platform: PlatformUnderTest, channel: str, method: str) -> None:
    merchant = any_platform.merchant()
    account = merchant.sandbox_account(channel)
    assert account["environment"] == "sandbox" and account["status"] == "active"
    with webhook_inbox() as (inbox, hook_url):
        endpoint = merchant.api.put("/v1/webhook_endpoint", json={"url": hook_url}).json()
        inbox.secret = endpoint["secret"]

        created = merchant.create_payment(method, amount=2000)
        assert created.status_code == 201, created.text
        payment = created.json()
        assert payment["status"] == "pending" and payment["channel_account_id"] == account["id"]
        assert payment["action"]["type"] == "qr_code" and payment["action"]["code_url"]
        assert payment["checkout_url"].endswith(f"/pay/{payment['id']}")

        assert merchant.pay(payment).status_code < 300
        paid = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
        assert paid["channel_trade_no"] and paid["paid_at"]
        event = inbox.wait_for("payment.succeeded", payment["id"])
        assert event["data"]["object"]["amount"] == 2000

        first = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 500})
        assert first.status_code == 201, first.text
        second = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 700,
                                                        "out_refund_no": "REFUND0002"})
        assert second.status_code == 201, second.text
        for refund in (first.json(), second.json()):
            merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
            inbox.wait_for("refund.succeeded", refund["id"])
        final = merchant.api.get(f"/v1/payments/{payment['id']}").json()
        assert final["status"] == "succeeded" and final["refunded_amount"] == 1200

        too_much = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 801})
        assert too_much.status_code == 409
        assert too_much.json()["error"]["code"] == "refund_exceeds_refundable"
        assert too_much.json()["error"]["details"]["refundable"] == 800
        rest = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 800})
        merchant.wait_status(f"/v1/refunds/{rest.json()['id']}", "succeeded")
        inbox.wait_for("refund.succeeded", rest.json()["id"])
        assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 2000
        assert inbox.rejected == 0
        types = sorted(e["type"] for e in inbox.events)
        assert types == ["payment.succeeded"] + ["refund.succeeded"] * 3


def test_close_then_the_channel_refuses_to_take_money(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    with webhook_inbox() as (inbox, hook_url):
        inbox.secret = merchant.api.put("/v1/webhook_endpoint", json={"url": hook_url}).json()["secret"]
        payment = merchant.create_payment("wechat_native").json()
        closed = merchant.api.post(f"/v1/payments/{payment['id']}/close")
        assert closed.status_code == 200 and closed.json()["status"] == "closed"
        inbox.wait_for("payment.closed", payment["id"])
    assert merchant.pay(payment).status_code >= 400  # the gateway closed it too
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "closed"


def test_payment_list_filters_and_paginates(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("alipay")
    ids = [merchant.create_payment("alipay_qr", amount=100 + n).json()["id"] for n in range(5)]
    page1 = merchant.api.get("/v1/payments", params={"limit": 2}).json()
    assert [p["id"] for p in page1["data"]] == ids[::-1][:2] and page1["has_more"]
    page2 = merchant.api.get("/v1/payments", params={"limit": 2, "starting_after": page1["data"][-1]["id"]}).json()
    assert [p["id"] for p in page2["data"]] == ids[::-1][2:4]
    one = merchant.api.get(f"/v1/payments/{ids[0]}").json()
    by_no = merchant.api.get("/v1/payments", params={"out_trade_no": one["out_trade_no"]}).json()
    assert [p["id"] for p in by_no["data"]] == [ids[0]]
    assert merchant.api.get("/v1/payments", params={"status": "succeeded"}).json()["data"] == []
    assert merchant.api.get("/v1/payments", params={"status": "bogus"}).status_code == 400
