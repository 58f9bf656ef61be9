"""End to end over real HTTP: our adapter against the sandbox mounted under a prefix."""

from __future__ import annotations

import secrets

import pytest
from wechat_sandbox_support import Sandbox, prepay_request, wait_for

from indiepay.channels.base import (
    ChannelMethod,
    RefundRequest,
    RefundState,
    TerminalChannelError,
    TradeState,
)
from indiepay.channels.wechatpay import signing


def _no(prefix: str = "T") -> str:
    return f"{prefix}{secrets.token_hex(8)}"


def test_native_pay_callback_query_and_close_paid(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    out_trade_no = _no()
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(mchid), amount=1234))
    assert result.action_type == "qr_code" and result.code_url and result.code_url.startswith("weixin://wxpay/")
    assert adapter.query_payment(out_trade_no).state is TradeState.PENDING

    paid = sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    assert paid.status_code == 200, paid.text
    notes = wait_for(lambda: sandbox.accepted(mchid))
    note = notes[0]
    assert note.event_type == "TRANSACTION.SUCCESS" and note.payment is not None
    assert note.payment.out_trade_no == out_trade_no
    assert note.payment.state is TradeState.SUCCEEDED and note.payment.amount == 1234
    assert note.payment.channel_trade_no == paid.json()["transaction_id"]

    queried = adapter.query_payment(out_trade_no)
    assert queried.state is TradeState.SUCCEEDED and queried.raw_state == "SUCCESS"
    assert queried.paid_at is not None and queried.payer_id

    with pytest.raises(TerminalChannelError) as exc:
        adapter.close_payment(out_trade_no)
    assert exc.value.channel_code == "ORDERPAID"
    again = sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"mchid": mchid, "out_trade_no": out_trade_no})
    assert again.status_code == 400 and again.json()["code"] == "ORDERPAID"


def test_close_unpaid_and_unknown(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    out_trade_no = _no()
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(credentials["mchid"])))
    adapter.close_payment(out_trade_no)
    assert adapter.query_payment(out_trade_no).state is TradeState.CLOSED
    adapter.close_payment(_no("NEVER"))  # unknown order: silently fine
    assert adapter.query_payment(_no("NEVER")).state is TradeState.NOT_FOUND
    late = sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"code_url": result.code_url})
    assert late.status_code == 400 and late.json()["code"] == "ORDER_CLOSED"


def test_partial_refunds_and_refund_callback(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    mchid = credentials["mchid"]
    out_trade_no = _no()
    url = sandbox.notify_url(mchid)
    adapter.prepay(prepay_request(out_trade_no, url, amount=100))
    sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"mchid": mchid, "out_trade_no": out_trade_no})

    def refund(no: str, amount: int) -> RefundRequest:
        return RefundRequest(out_trade_no=out_trade_no, out_refund_no=no, refund_amount=amount, total_amount=100,
                             currency="CNY", reason="测试", notify_url=url)

    first = adapter.refund(refund("R1" + out_trade_no, 30))
    assert first.state in (RefundState.PROCESSING, RefundState.SUCCEEDED) and first.amount == 30
    assert adapter.refund(refund("R1" + out_trade_no, 30)).channel_refund_no == first.channel_refund_no
    adapter.refund(refund("R2" + out_trade_no, 50))
    with pytest.raises(TerminalChannelError) as exc:
        adapter.refund(refund("R3" + out_trade_no, 21))
    assert exc.value.channel_code == "INVALID_REQUEST"

    refunds = wait_for(lambda: [n for n in sandbox.accepted(mchid) if n.refund is not None]
                       if len([n for n in sandbox.accepted(mchid) if n.refund is not None]) == 2 else None)
    assert {n.refund.out_refund_no for n in refunds if n.refund} == {"R1" + out_trade_no, "R2" + out_trade_no}
    assert all(n.event_type == "REFUND.SUCCESS" and n.refund and n.refund.state is RefundState.SUCCEEDED
               for n in refunds)
    queried = adapter.query_refund(out_trade_no, "R2" + out_trade_no)
    assert queried.state is RefundState.SUCCEEDED and queried.amount == 50 and queried.succeeded_at
    assert adapter.query_refund(out_trade_no, "NOPE" + out_trade_no).state is RefundState.NOT_FOUND
    payment = adapter.query_payment(out_trade_no)
    assert payment.state is TradeState.SUCCEEDED and payment.raw_state == "REFUND"
    adapter.refund(refund("R4" + out_trade_no, 20))  # exactly the remainder


def test_jsapi_pay_sign(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    out_trade_no = _no()
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(credentials["mchid"]),
                                           method=ChannelMethod.WECHAT_JSAPI, payer_openid="oUpF8uMuAJO_M2pxb1Q9"))
    params = result.jsapi_params
    assert result.action_type == "jsapi" and params is not None
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert params["appId"] == credentials["appid"] and params["signType"] == "RSA"
    assert params["package"].startswith("prepay_id=wx")
    merchant_public = signing.load_private_key(credentials["merchant_private_key"]).public_key()
    message = signing.pay_sign_message(params["appId"], params["timeStamp"], params["nonceStr"], params["package"])
    assert signing.verify(merchant_public, message, params["paySign"])
    prepay_id = params["package"].removeprefix("prepay_id=")
    paid = sandbox.http.post(f"{sandbox.base_url}/_buyer/pay", json={"prepay_id": prepay_id})
    assert paid.status_code == 200
    assert adapter.query_payment(out_trade_no).payer_id == "oUpF8uMuAJO_M2pxb1Q9"
    with pytest.raises(TerminalChannelError):
        adapter.prepay(prepay_request(_no(), sandbox.notify_url(credentials["mchid"]),
                                      method=ChannelMethod.WECHAT_JSAPI))


def test_h5_page_pays(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    out_trade_no = _no()
    result = adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(credentials["mchid"]),
                                           method=ChannelMethod.WECHAT_H5, client_ip="203.0.113.7"))
    assert result.action_type == "redirect" and result.url
    assert result.url.startswith(f"{sandbox.base_url}/_buyer/h5?prepay_id=wx")
    page = sandbox.http.get(result.url)
    assert page.status_code == 200 and "Pay" in page.text
    prepay_id = result.url.split("prepay_id=")[1].split("&")[0]
    done = sandbox.http.post(f"{sandbox.base_url}/_buyer/h5/pay", data={"prepay_id": prepay_id})
    assert "支付成功" in done.text
    assert adapter.query_payment(out_trade_no).state is TradeState.SUCCEEDED


def test_validation_and_duplicates(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision()
    url = sandbox.notify_url(credentials["mchid"])
    with pytest.raises(TerminalChannelError) as exc:
        adapter.prepay(prepay_request(_no(), url, amount=0))
    assert exc.value.channel_code == "PARAM_ERROR" and exc.value.http_status == 400
    with pytest.raises(TerminalChannelError) as exc:
        adapter.prepay(prepay_request(_no(), "ftp://example.com/notify"))
    assert exc.value.channel_code == "PARAM_ERROR"
    with pytest.raises(TerminalChannelError) as exc:
        adapter.client.call("POST", "/v3/pay/transactions/jsapi", mutating=True, body={
            "appid": credentials["appid"], "mchid": credentials["mchid"], "description": "x",
            "out_trade_no": _no(), "notify_url": url, "amount": {"total": 1}})
    assert exc.value.channel_code == "PARAM_ERROR"

    request = prepay_request(_no(), url, amount=500)
    first = adapter.prepay(request)
    assert adapter.prepay(request).code_url == first.code_url
    with pytest.raises(TerminalChannelError) as exc:
        adapter.prepay(prepay_request(request.out_trade_no, url, amount=501))
    assert exc.value.channel_code == "INVALID_REQUEST" and "201" in exc.value.message


def test_bad_signatures_are_refused(sandbox: Sandbox) -> None:
    credentials, _ = sandbox.provision()
    other, _ = sandbox.provision()
    forged = dict(credentials, merchant_private_key=other["merchant_private_key"])
    with pytest.raises(TerminalChannelError) as exc:
        sandbox.adapter(forged).query_payment("NOPE123456")
    assert exc.value.channel_code == "SIGN_ERROR" and exc.value.http_status == 401
    response = sandbox.http.get(f"{sandbox.base_url}/v3/pay/transactions/out-trade-no/X?mchid=1")
    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"
    sandbox.adapter(credentials)  # restore the receiver's adapter for this mchid


def test_works_under_another_mount_point(sandbox: Sandbox) -> None:
    credentials, adapter = sandbox.provision(base_url=f"{sandbox.url}/wechatpay")
    out_trade_no = _no()
    adapter.prepay(prepay_request(out_trade_no, sandbox.notify_url(credentials["mchid"])))
    assert adapter.query_payment(out_trade_no).state is TradeState.PENDING
