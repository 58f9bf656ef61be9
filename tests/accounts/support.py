"""Capturing a genuine in-flight callback from the sandbox gateways, and replaying it later."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.support.platform import MerchantClient, PlatformUnderTest


def capture_wechat(platform: PlatformUnderTest, merchant: MerchantClient, mchid: str,
                   amount: int = 1000) -> tuple[dict[str, Any], dict[str, str], bytes]:
    """A payment paid by the sandbox buyer whose callback the gateway built but cannot deliver yet (its
    attempts are dropped until the caller resets the knobs; the gateway keeps resending on schedule):
    returns the payment and one signed request as the gateway sent it."""
    sandbox = f"{platform.sandbox}/wechatpay"

    def bodies() -> list[dict[str, Any]]:
        log = httpx.get(f"{sandbox}/_callbacks", params={"mchid": mchid}, timeout=30).json()["deliveries"]
        return [e for e in log if e["kind"] == "dropped" and e.get("body")]

    seen = {e["body"] for e in bodies()}
    httpx.post(f"{sandbox}/_faults", json={"mchid": mchid, "drop_callbacks": 1000}, timeout=30)
    payment = merchant.create_payment("wechat_native", amount=amount).json()
    assert merchant.pay(payment).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        fresh = [e for e in bodies() if e["body"] not in seen]
        if fresh:
            return payment, dict(fresh[0]["headers"]), fresh[0]["body"].encode()
        time.sleep(0.05)
    raise AssertionError("no callback captured")


def capture_alipay(platform: PlatformUnderTest, merchant: MerchantClient, app_id: str,
                   amount: int = 1000) -> tuple[dict[str, Any], dict[str, str]]:
    """Like :func:`capture_wechat` for Alipay: the notify form, signed once, that the gateway keeps resending."""
    sandbox = f"{platform.sandbox}/alipay"
    httpx.post(f"{sandbox}/_faults", json={"app_id": app_id, "drop_callbacks": 1000}, timeout=30)
    payment = merchant.create_payment("alipay_qr", amount=amount).json()
    assert merchant.pay(payment).status_code == 200
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        view = httpx.get(f"{sandbox}/_orders/{app_id}/{payment['out_trade_no']}", timeout=30).json()
        if view.get("notifies"):
            return payment, dict(view["notifies"][0]["form"])
        time.sleep(0.05)
    raise AssertionError("no notify captured")


def post_wechat(platform: PlatformUnderTest, account_id: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    return httpx.post(f"{platform.base_url}/notify/wechatpay/{account_id}", content=body,
                      headers={**headers, "Content-Type": "application/json"}, timeout=30)


def post_alipay(platform: PlatformUnderTest, account_id: str, form: dict[str, str]) -> httpx.Response:
    return httpx.post(f"{platform.base_url}/notify/alipay/{account_id}", data=form, timeout=30)


def status_of(merchant: MerchantClient, payment: dict[str, Any]) -> str:
    return str(merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"])
