"""UnionPay (acp 5.1.0) through the platform, over real loopback HTTP against the sandbox gateway: what is
particular to it — orders named by number *and* send time, the gateway page entered by a form post, trust
through UnionPay's certificate chain, no close at the channel — beyond the shared full flow in test_flow."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any

import httpx

from tests.support.platform import MerchantClient, PlatformUnderTest


def _faults(platform: PlatformUnderTest, mer_id: str, **knobs: Any) -> None:
    response = httpx.post(f"{platform.sandbox}/unionpay/_faults", json={"mer_id": mer_id, **knobs}, timeout=10)
    assert response.status_code < 300, response.text


def _notifies(platform: PlatformUnderTest, mer_id: str, order_id: str) -> list[dict[str, Any]]:
    order = httpx.get(f"{platform.sandbox}/unionpay/_orders/{mer_id}/{order_id}", timeout=10).json()
    return list(order["notifies"])


def _hidden_fields(html: str) -> dict[str, str]:
    return {unescape(name): unescape(value)
            for name, value in re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)"', html)}


def test_a_lost_notify_is_found_by_the_query_with_the_orders_own_time(any_platform: PlatformUnderTest) -> None:
    """Every notify dropped: only a query can tell — and UnionPay finds an order only by the pair
    (orderId, txnTime), so the query must send the very second the order was opened with (on both
    databases: the payment's created_at comes back from each the same)."""
    merchant = any_platform.merchant()
    _, creds = merchant.own_sandbox_account("unionpay")
    _faults(any_platform, creds["mer_id"], drop_callbacks=5)
    payment = merchant.create_payment("unionpay_qr", amount=1234).json()
    assert payment["action"]["type"] == "qr_code"
    assert merchant.pay(payment).status_code < 300
    any_platform.run_jobs_until_one_is_done("payment.query")
    paid = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert paid["channel_trade_no"] and paid["paid_at"] and paid["amount"] == 1234
    assert any_platform.sql("SELECT count(*) FROM received_notifications") == [(0,)]

    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 234}).json()
    any_platform.run_jobs_until_one_is_done("refund.sync")  # its notify is dropped as well
    merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 234


def test_the_gateway_page_is_entered_by_a_signed_form_post(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("unionpay")
    payment = merchant.create_payment("unionpay_page", amount=8800).json()
    action = payment["action"]
    assert action["type"] == "form" and action["url"].endswith("/unionpay/gateway/api/frontTransReq.do")
    assert action["fields"]["txnAmt"] == "8800" and action["fields"]["frontUrl"].endswith(
        f"/pay/{payment['id']}/return")
    checkout = httpx.get(payment["checkout_url"], timeout=10).text
    assert 'id="pay-form"' in checkout and _hidden_fields(checkout) == action["fields"]

    # the buyer's browser: the checkout's form to the gateway, the gateway's Pay button, back to us
    cashier = httpx.post(action["url"], data=_hidden_fields(checkout), timeout=10)
    assert cashier.status_code == 200 and "88.00" in cashier.text
    paid_page = httpx.post(f"{platform.sandbox}/unionpay/_cashier/pay", timeout=10,
                           data={"merId": action["fields"]["merId"], "orderId": payment["out_trade_no"]})
    assert paid_page.status_code == 200
    front_url = re.search(r'<form[^>]*action="([^"]+)"', paid_page.text)
    assert front_url is not None and unescape(front_url.group(1)) == action["fields"]["frontUrl"]
    back_to_us = httpx.post(unescape(front_url.group(1)), data=_hidden_fields(paid_page.text), timeout=10)
    assert back_to_us.status_code == 200 and 'id="checkout"' in back_to_us.text
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")  # by the back notify

    tampered = dict(action["fields"], txnAmt="1")
    refused = httpx.post(action["url"], data=tampered, timeout=10)
    assert refused.status_code == 400 and "11" in refused.text  # 验证签名失败


def test_only_unionpays_chain_is_believed(platform: PlatformUnderTest) -> None:
    """An impostor with UnionPay's name on a certificate of another root moves nothing; UnionPay rotating
    its own signing certificate under the same chain changes nothing for the merchant."""
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("unionpay")
    _faults(platform, creds["mer_id"], foreign_signer=True)
    forged = merchant.create_payment("unionpay_qr")
    assert forged.status_code == 502  # the answer itself is not believed: outcome unknown
    payment_id = forged.json()["error"]["details"]["payment_id"]
    pending = merchant.api.get(f"/v1/payments/{payment_id}").json()
    assert pending["status"] == "pending" and pending["action"] is None

    _faults(platform, creds["mer_id"], foreign_signer=False)
    rotated = httpx.post(f"{platform.sandbox}/unionpay/_gateway_cert/rotate", timeout=30)
    assert rotated.status_code == 200
    payment = merchant.create_payment("unionpay_qr").json()
    _faults(platform, creds["mer_id"], foreign_signer=True)  # the notify comes from the impostor
    assert merchant.pay(payment).status_code < 300
    _wait_for_attempts(platform, creds["mer_id"], payment["out_trade_no"])
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    reasons = platform.sql("SELECT reason FROM rejected_notifications WHERE account_id = :a", a=account["id"])
    assert reasons and {reason for (reason,) in reasons} == {"verification_failed"}
    _faults(platform, creds["mer_id"], foreign_signer=False)
    platform.run_jobs_until_one_is_done("payment.query")
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def _wait_for_attempts(platform: PlatformUnderTest, mer_id: str, order_id: str) -> None:
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        notifies = _notifies(platform, mer_id, order_id)
        if notifies and notifies[0].get("attempts"):
            return
        time.sleep(0.05)
    raise AssertionError(f"no notify attempt for {order_id}")


def test_a_notify_altered_or_sent_to_another_merchants_route_changes_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, creds = merchant.own_sandbox_account("unionpay")
    other = platform.merchant("Other Shop")
    other_account, _ = other.own_sandbox_account("unionpay")
    _faults(platform, creds["mer_id"], drop_callbacks=5)
    payment = merchant.create_payment("unionpay_qr", amount=500).json()
    merchant.pay(payment)
    _wait_for_attempts(platform, creds["mer_id"], payment["out_trade_no"])
    form = _notifies(platform, creds["mer_id"], payment["out_trade_no"])[0]["fields"]
    base = platform.base_url
    altered = httpx.post(f"{base}/notify/unionpay/{account['id']}", data=dict(form, txnAmt="5"), timeout=10)
    elsewhere = httpx.post(f"{base}/notify/unionpay/{other_account['id']}", data=form, timeout=10)
    assert altered.status_code >= 400 and elsewhere.status_code >= 400
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    genuine = httpx.post(f"{base}/notify/unionpay/{account['id']}", data=form, timeout=10)
    assert genuine.status_code == 200
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert httpx.post(f"{base}/notify/unionpay/{account['id']}", data=form, timeout=10).status_code == 200
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'payment.succeeded'") == [(1,)]


def test_closing_is_local_and_money_after_it_is_never_lost(platform: PlatformUnderTest) -> None:
    """UnionPay has no close: a closed payment's code stays payable until its payTimeout, and money that
    arrives then is recorded as a late payment and alerted. After the payTimeout the buyer cannot pay."""
    merchant = platform.merchant()
    merchant.sandbox_account("unionpay")
    payment = merchant.create_payment("unionpay_qr", amount=700).json()
    closed = merchant.api.post(f"/v1/payments/{payment['id']}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    assert merchant.pay(payment).status_code < 300
    late = merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    assert late["late_payment"] is True
    assert platform.sql("SELECT kind FROM alerts") == [("late_payment",)]

    expiring = merchant.create_payment("unionpay_qr", expires_in_seconds=60).json()
    platform.clock.offset = timedelta(seconds=61)
    platform.run_jobs_until_one_is_done("payment.expire")
    merchant.wait_status(f"/v1/payments/{expiring['id']}", "closed")


def test_unionpay_offers_no_profit_sharing_and_refunds_can_fail(platform: PlatformUnderTest) -> None:
    merchant: MerchantClient = platform.merchant()
    _, creds = merchant.own_sandbox_account("unionpay")
    refused = merchant.create_payment("unionpay_qr", profit_sharing=True)
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "profit_sharing_unavailable"
    hyphen = merchant.create_payment("unionpay_qr", out_trade_no="ORDER-2026-1")  # fine for WeChat, not here
    assert hyphen.status_code == 400 and hyphen.json()["error"]["code"] == "invalid_order_no"
    assert hyphen.json()["error"]["details"] == {"field": "out_trade_no", "channel": "unionpay"}
    assert platform.sql("SELECT count(*) FROM payments") == [(0,)]

    payment = merchant.create_payment("unionpay_qr", amount=900).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    bad_no = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 1,
                                                    "out_refund_no": "rf_00000001"})
    assert bad_no.status_code == 400 and bad_no.json()["error"]["code"] == "invalid_order_no"
    assert platform.sql("SELECT count(*) FROM refunds") == [(0,)]
    _faults(platform, creds["mer_id"], refund_fail=True)
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 900}).json()
    assert refund["status"] == "processing"
    platform.run_jobs_until_one_is_done("refund.sync")
    failed = merchant.wait_status(f"/v1/refunds/{refund['id']}", "failed")
    assert failed["amount"] == 900
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 0
    _faults(platform, creds["mer_id"], refund_fail=False)
    again = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 900}).json()
    merchant.wait_status(f"/v1/refunds/{again['id']}", "succeeded")
