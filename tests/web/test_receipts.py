"""E-receipts: the buyer's printable page and the merchant's JSON for a succeeded payment — brand, legal
name, who collected, amount, Beijing time, both order numbers, each refund and what is left paid; none
before the payment succeeded, none of another merchant's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.payments.receipts import build_receipt
from indiepay.refunds.models import Refund
from tests.support.platform import MerchantClient, PlatformUnderTest


def paid(merchant: MerchantClient, method: str, amount: int) -> dict[str, Any]:
    payment = merchant.create_payment(method, amount=amount).json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_a_paid_and_partly_refunded_payment_has_its_receipt(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant(short_name="小王的茶铺")
    merchant.sandbox_account("wechatpay")
    payment = paid(merchant, "wechat_native", 12_345)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 2_345}).json()
    merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")

    receipt = merchant.api.get(f"/v1/payments/{payment['id']}/receipt")
    assert receipt.status_code == 200, receipt.text
    body = receipt.json()
    assert body["url"] == payment["checkout_url"] + "/receipt"
    assert (body["merchant_short_name"], body["merchant_name"], body["collected_by"]) == (
        "小王的茶铺", "小王的茶铺 Ltd.", "merchant")
    assert (body["amount"], body["refunded_amount"], body["net_amount"]) == (12_345, 2_345, 10_000)
    assert body["out_trade_no"] == payment["out_trade_no"]
    assert body["channel_trade_no"] and body["channel_trade_no"] == payment["channel_trade_no"]
    assert [(r["id"], r["amount"], r["status"]) for r in body["refunds"]] == [(refund["id"], 2_345, "succeeded")]

    page = httpx.get(body["url"], timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    paid_at = datetime.fromisoformat(body["paid_at"]).astimezone(UTC) + timedelta(hours=8)
    for shown in ("小王的茶铺 Ltd.", "¥123.45 CNY", "−¥23.45", "¥100.00 CNY", payment["out_trade_no"],
                  body["channel_trade_no"], paid_at.strftime("%Y-%m-%d %H:%M:%S"), "SANDBOX"):
        assert shown in page.text, shown
    checkout = httpx.get(payment["checkout_url"], timeout=30).text
    assert f'href="/pay/{payment["id"]}/receipt"' in checkout


def test_no_receipt_before_payment_nor_for_another_merchant(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("alipay")
    pending = merchant.create_payment("alipay_qr").json()
    refused = merchant.api.get(f"/v1/payments/{pending['id']}/receipt")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "payment_not_paid"
    assert refused.json()["error"]["details"]["status"] == "pending"
    page = httpx.get(f"{pending['checkout_url']}/receipt", timeout=30)
    assert page.status_code == 404 and 'id="not-paid"' in page.text
    assert httpx.get(f"{platform.base_url}/pay/pay_nosuchpayment/receipt", timeout=30).status_code == 404

    payment = paid(merchant, "alipay_qr", 500)
    stranger = platform.merchant("Noodle Bar")
    for other in (stranger.api, merchant.live):  # another merchant; the same merchant's live key
        missing = other.get(f"/v1/payments/{payment['id']}/receipt")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "payment_not_found"


T = datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Beijing


def test_the_receipt_is_built_from_the_records_as_they_stand() -> None:
    merchant = Merchant(id="mch_1", name="Tea Shop Ltd.", short_name="Tea Shop")
    payment = Payment(id="pay_1", livemode=True, merchant_id="mch_1", status="succeeded", amount=10_000,
                      refunded_amount=3_000, currency="CNY", description="tea", method="alipay_qr", channel="alipay",
                      collection_mode="platform", out_trade_no="T1", channel_trade_no="2026112422001",
                      paid_at=T, payer={"openid": "o_secret_buyer"})
    refunds = [Refund(id="re_b", amount=1_000, status="processing", created_at=T + timedelta(days=2),
                      succeeded_at=None),
               Refund(id="re_c", amount=5_000, status="failed", created_at=T + timedelta(days=1), succeeded_at=None),
               Refund(id="re_a", amount=3_000, status="succeeded", created_at=T + timedelta(hours=1),
                      succeeded_at=T + timedelta(hours=2))]
    receipt = build_receipt(payment, merchant, refunds)
    assert receipt.collected_by == "platform" and receipt.net == 7_000
    assert [(r.refund_id, r.at) for r in receipt.refunds] == [("re_a", T + timedelta(hours=2)),
                                                               ("re_b", T + timedelta(days=2))]  # no failed one
    assert receipt.local(receipt.paid_at) == "2026-11-24 23:59:59"
    assert receipt.local(T + timedelta(seconds=1)) == "2026-11-25 00:00:00"
    assert "o_secret_buyer" not in repr(receipt)  # nothing of the buyer's
