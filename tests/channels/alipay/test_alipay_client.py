"""The Alipay adapter against a scripted gateway: request signing, response verification, error mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from tests.channels.alipay.alipay_fakes import APP_ID, GATEWAY, SELLER_ID, FakeGateway, Keys

from indiepay.channels.alipay import signing, validate_credentials
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.channels.base import (
    ChannelMethod,
    PrepayRequest,
    RefundRequest,
    RefundState,
    RetryableChannelError,
    TerminalChannelError,
    TradeState,
    UnknownOutcomeError,
)
from indiepay.core.errors import InvalidRequest

EXPIRES = datetime(2025, 3, 1, 6, 0, 0, tzinfo=UTC)


def prepay(method: ChannelMethod, amount: int = 1234) -> PrepayRequest:
    return PrepayRequest(method=method, out_trade_no="ord_1", amount=amount, currency="CNY",
                         description="T恤 \"limited\" & more", notify_url="https://shop.test/notify/alipay",
                         expires_at=EXPIRES, return_url="https://shop.test/done?x=1")


def refund_request(amount: int = 100) -> RefundRequest:
    return RefundRequest(out_trade_no="ord_1", out_refund_no="re_1", refund_amount=amount, total_amount=1234,
                         currency="CNY", reason="size", notify_url="https://shop.test/notify/alipay")


def test_precreate_signs_common_params_and_returns_qr(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    gateway.reply({"code": "10000", "msg": "Success", "out_trade_no": "ord_1",
                   "qr_code": "https://qr.alipay.com/bax01"})
    result = adapter.prepay(prepay(ChannelMethod.ALIPAY_QR))
    assert (result.action_type, result.code_url) == ("qr_code", "https://qr.alipay.com/bax01")
    sent = gateway.requests[0]
    assert {k: sent[k] for k in ("app_id", "method", "format", "charset", "sign_type", "version", "notify_url")} == {
        "app_id": APP_ID, "method": "alipay.trade.precreate", "format": "JSON", "charset": "utf-8",
        "sign_type": "RSA2", "version": "1.0", "notify_url": "https://shop.test/notify/alipay"}
    assert sent["timestamp"] == "2025-03-01 12:00:00"  # Beijing wall time of 04:00 UTC
    biz = json.loads(sent["biz_content"])
    assert biz["total_amount"] == "12.34" and biz["time_expire"] == "2025-03-01 14:00:00"


def test_page_and_wap_urls_are_signed_redirects(adapter: AlipayAdapter, keys: Keys, gateway: FakeGateway) -> None:
    for method, api, product in ((ChannelMethod.ALIPAY_PAGE, "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
                                 (ChannelMethod.ALIPAY_WAP, "alipay.trade.wap.pay", "QUICK_WAP_WAY")):
        result = adapter.prepay(prepay(method))
        assert result.action_type == "redirect" and result.url is not None
        parts = urlsplit(result.url)
        assert f"{parts.scheme}://{parts.netloc}{parts.path}" == GATEWAY
        params = dict(parse_qsl(parts.query))
        assert params["method"] == api and params["return_url"] == "https://shop.test/done?x=1"
        assert json.loads(params["biz_content"])["product_code"] == product
        assert signing.rsa2_verify(keys.app.public_key(), signing.request_sign_content(params), params["sign"])
    assert gateway.requests == []


def test_forged_or_unsigned_success_is_unknown(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    body = {"code": "10000", "msg": "Success", "out_trade_no": "ord_1", "trade_status": "TRADE_SUCCESS",
            "total_amount": "12.34", "trade_no": "2025"}
    gateway.reply(body, tamper=lambda text: text.replace("12.34", "12.35"))
    with pytest.raises(UnknownOutcomeError, match="signature"):
        adapter.query_payment("ord_1")
    gateway.reply(body, tamper=lambda text: text.replace("TRADE_SUCCESS", "TRADE_SUCCESs"))
    with pytest.raises(UnknownOutcomeError):
        adapter.query_payment("ord_1")
    gateway.reply(body, sign=False)
    with pytest.raises(UnknownOutcomeError, match="unsigned"):
        adapter.query_payment("ord_1")
    gateway.raw(lambda params: httpx.Response(200, text="<html>busy</html>"))
    with pytest.raises(UnknownOutcomeError, match="unparsable"):
        adapter.query_payment("ord_1")


def test_query_maps_states(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"})
    assert adapter.query_payment("ord_1").state == TradeState.NOT_FOUND
    gateway.reply({"code": "10000", "msg": "Success", "out_trade_no": "ord_1", "trade_status": "TRADE_SUCCESS",
                   "total_amount": "12.34", "trade_no": "2025x", "send_pay_date": "2025-03-01 12:00:05",
                   "buyer_user_id": "2088000000000099"})
    paid = adapter.query_payment("ord_1")
    assert (paid.state, paid.amount, paid.channel_trade_no, paid.payer_id) == (
        TradeState.SUCCEEDED, 1234, "2025x", "2088000000000099")
    assert paid.paid_at == datetime(2025, 3, 1, 4, 0, 5, tzinfo=UTC)
    gateway.reply({"code": "10000", "msg": "Success", "trade_status": "TRADE_CLOSED", "total_amount": "1.00",
                   "send_pay_date": "2025-03-01 12:00:05"})
    assert adapter.query_payment("ord_1").state == TradeState.SUCCEEDED  # fully refunded
    gateway.reply({"code": "10000", "msg": "Success", "trade_status": "TRADE_CLOSED", "total_amount": "1.00"})
    assert adapter.query_payment("ord_1").state == TradeState.CLOSED


def test_error_codes(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    gateway.reply({"code": "40002", "msg": "Invalid Arguments", "sub_code": "isv.invalid-signature"})
    with pytest.raises(TerminalChannelError) as terminal:
        adapter.prepay(prepay(ChannelMethod.ALIPAY_QR))
    assert terminal.value.channel_code == "isv.invalid-signature"
    gateway.reply({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"})
    with pytest.raises(RetryableChannelError):
        adapter.query_payment("ord_1")
    gateway.reply({"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error"})
    with pytest.raises(UnknownOutcomeError):
        adapter.refund(refund_request())
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"})
    with pytest.raises(TerminalChannelError) as refused:
        adapter.refund(refund_request())
    assert refused.value.channel_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    gateway.raw(lambda params: httpx.Response(502, text="bad gateway"))
    with pytest.raises(UnknownOutcomeError):
        adapter.refund(refund_request())


def test_transport_errors(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    def refuse(params: dict[str, str]) -> httpx.Response:
        raise httpx.ConnectError("refused")

    def slow(params: dict[str, str]) -> httpx.Response:
        raise httpx.ReadTimeout("slow")

    gateway.raw(refuse)
    with pytest.raises(RetryableChannelError):
        adapter.refund(refund_request())
    gateway.raw(slow)
    with pytest.raises(UnknownOutcomeError):
        adapter.refund(refund_request())
    gateway.raw(slow)
    with pytest.raises(RetryableChannelError):
        adapter.query_payment("ord_1")


def test_close(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_NOT_EXIST"})
    adapter.close_payment("ord_1")
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"})
    gateway.reply({"code": "10000", "msg": "Success", "trade_status": "TRADE_SUCCESS", "total_amount": "1.00",
                   "send_pay_date": "2025-03-01 12:00:05"})
    with pytest.raises(TerminalChannelError) as paid:
        adapter.close_payment("ord_1")
    assert paid.value.channel_code == "ACQ.TRADE_STATUS_ERROR"
    gateway.reply({"code": "40004", "msg": "Business Failed", "sub_code": "ACQ.TRADE_STATUS_ERROR"})
    gateway.reply({"code": "10000", "msg": "Success", "trade_status": "TRADE_CLOSED", "total_amount": "1.00"})
    adapter.close_payment("ord_1")  # already closed, never paid


def test_refund_and_refund_query(adapter: AlipayAdapter, gateway: FakeGateway) -> None:
    gateway.reply({"code": "10000", "msg": "Success", "fund_change": "Y", "refund_fee": "1.00",
                   "trade_no": "2025x", "gmt_refund_pay": "2025-03-01 12:30:00"})
    done = adapter.refund(refund_request())
    assert (done.state, done.amount, done.out_refund_no) == (RefundState.SUCCEEDED, 100, "re_1")
    assert json.loads(gateway.requests[-1]["biz_content"])["out_request_no"] == "re_1"
    # a retry: no fund change this time, the refund query settles it
    gateway.reply({"code": "10000", "msg": "Success", "fund_change": "N", "refund_fee": "1.00"})
    gateway.reply({"code": "10000", "msg": "Success", "out_trade_no": "ord_1", "out_request_no": "re_1",
                   "refund_amount": "1.00", "refund_status": "REFUND_SUCCESS",
                   "gmt_refund_pay": "2025-03-01 12:30:00"})
    again = adapter.refund(refund_request())
    assert (again.state, again.amount) == (RefundState.SUCCEEDED, 100)
    assert json.loads(gateway.requests[-1]["biz_content"])["query_options"] == ["gmt_refund_pay"]
    gateway.reply({"code": "10000", "msg": "Success"})
    assert adapter.query_refund("ord_1", "re_2").state == RefundState.NOT_FOUND
    gateway.reply({"code": "10000", "msg": "Success", "out_request_no": "re_1", "refund_amount": "1.00"})
    assert adapter.query_refund("ord_1", "re_1").state == RefundState.SUCCEEDED  # legacy: no refund_status


def test_notification_reply(adapter: AlipayAdapter) -> None:
    ok = adapter.notification_reply(True)
    assert (ok.status_code, ok.body, ok.content_type.split(";")[0]) == (200, b"success", "text/plain")
    assert adapter.notification_reply(False).status_code == 400


def test_validate_credentials(keys: Keys) -> None:
    good = keys.credentials()
    assert validate_credentials(good)["app_id"] == APP_ID
    cases = {
        "app_id": {**good, "app_id": ""},
        "seller_id": {**good, "seller_id": "2077000000000001"},
        "extra": {**good, "extra": "x"},
        "app_private_key": {**good, "app_private_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"},
        "alipay_public_key": {**good, "alipay_public_key": signing.public_key_pem(keys.app.public_key())},
    }
    for field, credentials in cases.items():
        with pytest.raises(InvalidRequest) as error:
            validate_credentials(credentials)
        assert error.value.code == "invalid_credentials" and error.value.details == {"field": field}
    missing = {k: v for k, v in good.items() if k != "seller_id"}
    with pytest.raises(InvalidRequest) as error:
        validate_credentials(missing)
    assert error.value.details == {"field": "seller_id"}
    assert validate_credentials(good)["seller_id"] == SELLER_ID
