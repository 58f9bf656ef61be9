"""End to end against the live sandbox with the real adapter: QR, page/wap, close, refunds, notifies."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, urlsplit

import pytest
from tests.sandbox.alipay.alipay_harness import MOUNT, Receiver, SandboxApp

from indiepay.channels.alipay import signing, validate_credentials
from indiepay.channels.base import (
    ChannelMethod,
    RefundRequest,
    RefundState,
    TerminalChannelError,
    TradeState,
)


def is_payment(out_trade_no: str, status: str = "TRADE_SUCCESS"):  # type: ignore[no-untyped-def]
    return lambda n: n.payment is not None and n.payment.out_trade_no == out_trade_no and n.event_type == status


def test_provision_gives_valid_credentials(sbx: SandboxApp) -> None:
    assert re.fullmatch(r"2021\d{12}", sbx.app_id)
    assert re.fullmatch(r"2088\d{12}", sbx.credentials["seller_id"])
    assert sbx.credentials["app_private_key"].startswith("-----BEGIN PRIVATE KEY-----")
    assert validate_credentials(sbx.credentials)["app_id"] == sbx.app_id
    assert sbx.base.endswith(MOUNT)


def test_qr_scan_pay_notify_query(sbx: SandboxApp, receiver: Receiver) -> None:
    result = sbx.adapter.prepay(sbx.prepay("qr_1", 1234))
    assert result.action_type == "qr_code" and result.code_url
    assert re.fullmatch(r"https://qr\.alipay\.com/bax0[0-9a-z]+", result.code_url)
    again = sbx.adapter.prepay(sbx.prepay("qr_1", 1234))
    assert again.code_url == result.code_url  # same order, same QR
    other = sbx.adapter.prepay(sbx.prepay("qr_2", 1234))
    assert other.code_url != result.code_url
    with pytest.raises(TerminalChannelError) as changed:
        sbx.adapter.prepay(sbx.prepay("qr_1", 999))
    assert changed.value.channel_code == "ACQ.CONTEXT_INCONSISTENT"

    assert sbx.adapter.query_payment("qr_1").state == TradeState.NOT_FOUND  # not scanned yet
    paid = sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": result.code_url})
    assert paid.status_code == 200 and paid.json()["trade_status"] == "TRADE_SUCCESS"

    [notification] = receiver.wait_for(is_payment("qr_1"))
    assert notification.payment is not None
    assert (notification.payment.amount, notification.payment.state) == (1234, TradeState.SUCCEEDED)
    assert notification.raw["app_id"] == sbx.app_id

    state = sbx.adapter.query_payment("qr_1")
    assert (state.state, state.amount, state.channel_trade_no) == (
        TradeState.SUCCEEDED, 1234, notification.payment.channel_trade_no)
    assert state.paid_at is not None and state.payer_id == paid.json()["buyer_id"]

    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": result.code_url}).status_code == 409
    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": "https://qr.alipay.com/bax0nope"}
                         ).status_code == 404
    with pytest.raises(TerminalChannelError) as repeat:
        sbx.adapter.prepay(sbx.prepay("qr_1", 1234))
    assert repeat.value.channel_code == "ACQ.TRADE_HAS_SUCCESS"
    assert sbx.delivered_notify("qr_1")["attempts"] == 1


@pytest.mark.parametrize("method", [ChannelMethod.ALIPAY_PAGE, ChannelMethod.ALIPAY_WAP])
def test_page_cashier_pays_and_returns(sbx: SandboxApp, receiver: Receiver, method: ChannelMethod) -> None:
    out_trade_no = f"page_{method.value}"
    result = sbx.adapter.prepay(sbx.prepay(out_trade_no, 8800, method, return_url="https://shop.test/back?o=1"))
    assert result.action_type == "redirect" and result.url and result.url.startswith(sbx.gateway_url + "?")
    assert sbx.adapter.query_payment(out_trade_no).state == TradeState.NOT_FOUND

    page = sbx.http.get(result.url)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "¥88.00" in page.text and f"订单 {out_trade_no} &lt;b&gt;&amp;&lt;/b&gt;" in page.text
    assert sbx.adapter.query_payment(out_trade_no).state == TradeState.PENDING  # created on opening

    action = re.search(r'action="([^"]+)"', page.text)
    assert action is not None
    pay_url = str(page.url.join(action.group(1)))
    assert pay_url == sbx.base + "/_cashier/pay"
    back = sbx.http.post(pay_url, data={"app_id": sbx.app_id, "out_trade_no": out_trade_no})
    assert back.status_code == 303
    location = urlsplit(back.headers["location"])
    assert (location.netloc, location.path) == ("shop.test", "/back")
    params = dict(parse_qsl(location.query))
    assert params["o"] == "1" and params["total_amount"] == "88.00" and params["method"].endswith(".return")
    public = signing.load_public_key(sbx.credentials["alipay_public_key"])
    signed = {k: v for k, v in params.items() if k != "o"}
    assert signing.rsa2_verify(public, signing.notify_sign_content(signed), signed["sign"])

    receiver.wait_for(is_payment(out_trade_no))
    assert sbx.adapter.query_payment(out_trade_no).state == TradeState.SUCCEEDED


def test_close(sbx: SandboxApp) -> None:
    qr = sbx.adapter.prepay(sbx.prepay("close_qr", 100))
    sbx.adapter.close_payment("close_qr")  # not scanned: TRADE_NOT_EXIST, succeeds silently
    page = sbx.adapter.prepay(sbx.prepay("close_page", 100, ChannelMethod.ALIPAY_PAGE))
    assert page.url is not None and sbx.http.get(page.url).status_code == 200
    sbx.adapter.close_payment("close_page")
    assert sbx.adapter.query_payment("close_page").state == TradeState.CLOSED
    sbx.adapter.close_payment("close_page")  # closing twice is fine
    closed = sbx.http.post(sbx.base + "/_buyer/pay", json={"app_id": sbx.app_id, "out_trade_no": "close_page"})
    assert closed.status_code == 409 and closed.json()["error"]["code"] == "ACQ.TRADE_HAS_CLOSE"

    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url}).status_code == 200
    with pytest.raises(TerminalChannelError) as paid:
        sbx.adapter.close_payment("close_qr")
    assert paid.value.channel_code == "ACQ.TRADE_STATUS_ERROR"


def refund(sbx: SandboxApp, out_refund_no: str, amount: int) -> RefundRequest:
    return RefundRequest(out_trade_no="rf_1", out_refund_no=out_refund_no, refund_amount=amount, total_amount=1000,
                         currency="CNY", reason="退货", notify_url=sbx.notify_url)


def test_partial_refunds(sbx: SandboxApp, receiver: Receiver) -> None:
    with pytest.raises(TerminalChannelError) as unknown_trade:
        sbx.adapter.refund(refund(sbx, "re_0", 100))
    assert unknown_trade.value.channel_code == "ACQ.TRADE_NOT_EXIST"
    qr = sbx.adapter.prepay(sbx.prepay("rf_1", 1000))
    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url}).status_code == 200

    first = sbx.adapter.refund(refund(sbx, "re_1", 300))
    assert (first.state, first.amount) == (RefundState.SUCCEEDED, 300)
    retry = sbx.adapter.refund(refund(sbx, "re_1", 300))  # same out_request_no: no second refund
    assert (retry.state, retry.amount) == (RefundState.SUCCEEDED, 300)
    with pytest.raises(TerminalChannelError) as too_much:
        sbx.adapter.refund(refund(sbx, "re_2", 701))
    assert too_much.value.channel_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert sbx.adapter.query_payment("rf_1").raw_state == "TRADE_SUCCESS"  # partial keeps it open

    assert sbx.adapter.refund(refund(sbx, "re_2", 700)).state == RefundState.SUCCEEDED
    full = sbx.adapter.query_payment("rf_1")
    assert (full.raw_state, full.state) == ("TRADE_CLOSED", TradeState.SUCCEEDED)  # was paid, then refunded

    found = sbx.adapter.query_refund("rf_1", "re_1")
    assert (found.state, found.amount) == (RefundState.SUCCEEDED, 300) and found.succeeded_at is not None
    assert sbx.adapter.query_refund("rf_1", "re_9").state == RefundState.NOT_FOUND
    assert sbx.adapter.query_refund("nope", "re_1").state == RefundState.NOT_FOUND

    refunds = receiver.wait_for(lambda n: n.refund is not None and n.refund.out_trade_no == "rf_1", count=2)
    assert sorted((n.refund.out_refund_no, n.raw["refund_fee"], n.raw["trade_status"])  # type: ignore[union-attr]
                  for n in refunds) == [("re_1", "3.00", "TRADE_SUCCESS"), ("re_2", "10.00", "TRADE_CLOSED")]
    order = sbx.order("rf_1")
    assert isinstance(order["refunds"], list) and len(order["refunds"]) == 2
