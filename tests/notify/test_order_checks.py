"""Even a callback the channel really signed must agree with our payment (out_trade_no, amount,
currency); a disagreement is a security event: nothing changes, an alert is raised."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from indiepay.channels.base import (
    ChannelPayment,
    IncomingNotification,
    Notification,
    NotificationReply,
    TradeState,
)
from tests.support.platform import PlatformUnderTest


class SignedButWrong:
    """Stands in for an adapter whose (verified) callback reports different order data."""

    channel = "wechatpay"

    def __init__(self, report: ChannelPayment) -> None:
        self.report = report

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        return Notification(notification_id="n-1", event_type="TRANSACTION.SUCCESS", payment=self.report)

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        return NotificationReply(204 if accepted else 400, b"" if accepted else b'{"code":"FAIL"}',
                                 "application/json")


@pytest.mark.parametrize("change", [{"amount": 1}, {"currency": "USD"}, {"out_trade_no": "SOMEONE-ELSE"}])
def test_verified_callback_that_disagrees_changes_nothing(platform: PlatformUnderTest, change: dict[str, Any]) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment("wechat_native", amount=5000).json()
    report = ChannelPayment(**{"out_trade_no": payment["out_trade_no"], "state": TradeState.SUCCEEDED,
                               "raw_state": "SUCCESS", "amount": 5000, "currency": "CNY", **change})
    updated_at = platform.sql("SELECT updated_at FROM channel_accounts WHERE id = :id", id=account["id"])[0][0]
    cache = platform.runtime.ctx.adapters
    original_get = cache.get
    cache.get = lambda **kw: SignedButWrong(report) if kw["account_id"] == account["id"] else original_get(**kw)  # type: ignore[method-assign]
    try:
        response = httpx.post(f"{platform.base_url}/notify/wechatpay/{account['id']}", content=b"{}")
    finally:
        cache.get = original_get  # type: ignore[method-assign]
    assert response.status_code == 400
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    assert platform.sql("SELECT count(*) FROM events") == [(0,)]
    assert updated_at is not None
    if "out_trade_no" in change:
        assert platform.sql("SELECT reason FROM rejected_notifications") == [("unknown_order",)]
    else:
        assert platform.sql("SELECT reason FROM rejected_notifications") == [("order_mismatch",)]
        assert platform.sql("SELECT kind FROM alerts") == [("callback_mismatch",)]


def test_jsapi_and_h5_payments_carry_their_buyer_actions(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    jsapi = merchant.create_payment("wechat_jsapi", payer={"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"}).json()
    params = jsapi["action"]["params"]
    assert jsapi["action"]["type"] == "jsapi"
    assert params["package"].startswith("prepay_id=") and params["signType"] == "RSA" and params["paySign"]
    h5 = merchant.create_payment("wechat_h5", payer={"client_ip": "203.0.113.7"}).json()
    assert h5["action"]["type"] == "redirect" and h5["action"]["url"].startswith("http")
    merchant.sandbox_account("alipay")
    for method in ("alipay_page", "alipay_wap"):
        page = merchant.create_payment(method).json()
        assert page["action"]["type"] == "redirect" and "sign=" in page["action"]["url"]
        cashier = httpx.get(page["action"]["url"], timeout=30)
        assert cashier.status_code == 200
