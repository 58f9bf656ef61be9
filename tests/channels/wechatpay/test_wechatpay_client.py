"""The client's contract with the gateway: what it signs, what it believes, how failures are classified."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest
from wechatpay_fakes import adapter_for, credentials, reply, rsa_key, signed_headers

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
from indiepay.channels.wechatpay import signing
from indiepay.core.clock import FixedClock

EXPIRES = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _prepay(method: ChannelMethod = ChannelMethod.WECHAT_NATIVE, **extra: str) -> PrepayRequest:
    return PrepayRequest(method=method, out_trade_no="T20240501001", amount=100, currency="CNY",
                         description="商品", notify_url="https://shop.example/notify", expires_at=EXPIRES, **extra)


def test_signs_path_below_base_url_and_body_as_sent() -> None:
    adapter, gateway = adapter_for(lambda request: reply(200, {"code_url": "weixin://wxpay/bizpayurl?pr=abc"}),
                                   base_url="http://127.0.0.1:8000/sandbox/wechatpay")
    assert adapter.prepay(_prepay()).code_url == "weixin://wxpay/bizpayurl?pr=abc"
    request = gateway.requests[0]
    assert request.url.path == "/sandbox/wechatpay/v3/pay/transactions/native"
    auth = signing.parse_authorization(request.headers["authorization"])
    assert auth["mchid"] == "1900000109" and auth["serial_no"] == credentials()["merchant_serial_no"]
    message = signing.request_message("POST", "/v3/pay/transactions/native", auth["timestamp"], auth["nonce_str"],
                                      request.content)
    assert signing.verify(rsa_key("merchant").public_key(), message, auth["signature"])
    body = json.loads(request.content)
    assert body["time_expire"] == "2030-01-01T20:00:00+08:00" and body["amount"] == {"total": 100, "currency": "CNY"}


def test_query_signs_encoded_path_and_query() -> None:
    adapter, gateway = adapter_for(lambda request: reply(200, {"out_trade_no": "A|B*1", "trade_state": "NOTPAY"}))
    assert adapter.query_payment("A|B*1").state is TradeState.PENDING
    request = gateway.requests[0]
    auth = signing.parse_authorization(request.headers["authorization"])
    signed_path = "/v3/pay/transactions/out-trade-no/A%7CB%2A1?mchid=1900000109"
    assert request.url.raw_path.decode() == signed_path
    message = signing.request_message("GET", signed_path, auth["timestamp"], auth["nonce_str"], b"")
    assert signing.verify(rsa_key("merchant").public_key(), message, auth["signature"])


# built when the test runs, not when it is collected (a timestamp taken at collection drifts into the
# 300-second window by the time a long suite reaches the test), against the adapter's clock held at that
# second: a wall clock crossing into the next second between building and checking the answer turned
# "301 s ahead" into 300 on a loaded machine
@pytest.mark.parametrize("make_response", [
    lambda now: reply(200, {"code_url": "weixin://x"}, signed=False),
    lambda now: reply(200, {"code_url": "weixin://x"}, key=rsa_key("attacker"), timestamp=now),
    lambda now: reply(200, {"code_url": "weixin://x"}, serial="PUB_KEY_ID_0199999", timestamp=now),
    lambda now: reply(200, {"code_url": "weixin://x"}, timestamp=now - 301),
    lambda now: reply(200, {"code_url": "weixin://x"}, timestamp=now + 301),
    lambda now: httpx.Response(200, content=b"not json", headers={}),
    lambda now: reply(500, {"code": "SYSTEM_ERROR", "message": "系统错误"}, timestamp=now),
    lambda now: reply(502, None, signed=False),
], ids=["unsigned", "attacker_key", "unknown_serial", "301s_old", "301s_ahead", "not_json", "500", "502"])
def test_untrusted_or_failed_answers_are_unknown_outcomes(make_response: Callable[[int], httpx.Response]) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    response = make_response(int(at.timestamp()))
    adapter, _ = adapter_for(lambda request: response, clock=FixedClock(at))
    with pytest.raises(UnknownOutcomeError):
        adapter.prepay(_prepay())


def test_signed_but_unparsable_body_is_unknown() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"<html>", headers=signed_headers(b"<html>"))

    adapter, _ = adapter_for(handler)
    with pytest.raises(UnknownOutcomeError):
        adapter.prepay(_prepay())


def test_status_classification() -> None:
    adapter, _ = adapter_for(lambda request: reply(429, {"code": "FREQUENCY_LIMITED", "message": "频率超限"}))
    with pytest.raises(RetryableChannelError) as retry:
        adapter.prepay(_prepay())
    assert retry.value.channel_code == "FREQUENCY_LIMITED"
    adapter, _ = adapter_for(lambda request: reply(400, {"code": "PARAM_ERROR", "message": "参数错误"}))
    with pytest.raises(TerminalChannelError) as terminal:
        adapter.prepay(_prepay())
    assert terminal.value.channel_code == "PARAM_ERROR" and terminal.value.http_status == 400
    adapter, _ = adapter_for(lambda request: reply(403, {"code": "NO_AUTH", "message": "无权限"}, signed=False))
    with pytest.raises(TerminalChannelError):
        adapter.prepay(_prepay())
    adapter, _ = adapter_for(lambda request: reply(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"}))
    assert adapter.query_payment("T1").state is TradeState.NOT_FOUND
    adapter.close_payment("T1")
    adapter, _ = adapter_for(lambda request: reply(404, {"code": "RESOURCE_NOT_EXISTS", "message": "不存在"}))
    assert adapter.query_refund("T1", "R1").state is RefundState.NOT_FOUND


def _raiser(exc: Exception) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc
    return handler


def test_transport_failures() -> None:
    adapter, _ = adapter_for(_raiser(httpx.ConnectError("refused")))
    with pytest.raises(RetryableChannelError):
        adapter.prepay(_prepay())
    adapter, _ = adapter_for(_raiser(httpx.ReadTimeout("slow")))
    with pytest.raises(UnknownOutcomeError):
        adapter.prepay(_prepay())
    with pytest.raises(UnknownOutcomeError):
        adapter.close_payment("T1")
    with pytest.raises(RetryableChannelError):
        adapter.query_payment("T1")
    with pytest.raises(RetryableChannelError):
        adapter.query_refund("T1", "R1")


def test_close_204_signed_over_empty_body_and_refund_mapping() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/close"):
            assert json.loads(request.content) == {"mchid": "1900000109"}
            return reply(204)
        return reply(200, {"out_refund_no": "R1", "out_trade_no": "T1", "refund_id": "50001", "status": "PROCESSING",
                           "amount": {"refund": 40, "total": 100}})

    adapter, _ = adapter_for(handler)
    adapter.close_payment("T1")
    refund = adapter.refund(RefundRequest(out_trade_no="T1", out_refund_no="R1", refund_amount=40,
                                          total_amount=100, currency="CNY", reason=None, notify_url="https://x/n"))
    assert refund.state is RefundState.PROCESSING and refund.amount == 40 and refund.channel_refund_no == "50001"
    adapter, _ = adapter_for(lambda request: reply(204, signed=False))
    with pytest.raises(UnknownOutcomeError):
        adapter.close_payment("T1")


def test_local_prepay_checks() -> None:
    adapter, gateway = adapter_for(lambda request: reply(200, {"prepay_id": "wx1"}))
    with pytest.raises(TerminalChannelError):
        adapter.prepay(_prepay(ChannelMethod.WECHAT_JSAPI))
    with pytest.raises(TerminalChannelError):
        adapter.prepay(_prepay(ChannelMethod.WECHAT_H5))
    with pytest.raises(TerminalChannelError):
        adapter.prepay(_prepay(ChannelMethod.ALIPAY_QR))
    assert gateway.requests == []
    params = adapter.prepay(_prepay(ChannelMethod.WECHAT_JSAPI, payer_openid="oUser")).jsapi_params
    assert params is not None and params["package"] == "prepay_id=wx1"
