"""Wire fidelity: every answer signed and chained, and the request checks with their respCodes (10, 11, 13, 31)."""

from __future__ import annotations

import re

import pytest
from tests.sandbox.unionpay.unionpay_sandbox_support import BACK, QUERY, Merchant, Sandbox, new_order_id, trust

from indiepay.channels.unionpay import signing


@pytest.fixture(scope="module")
def merchant(sandbox: Sandbox) -> Merchant:
    """One merchant for the whole module: these tests create no state that another could trip over."""
    return sandbox.provision()


def test_answer_shape(merchant: Merchant) -> None:
    fields = merchant.qr_fields(new_order_id(), 100)
    reply = merchant.post(BACK, fields)
    assert reply.status_code == 200 and reply.headers["content-type"] == "text/plain;charset=UTF-8"
    assert "%" not in reply.text.split("signature=")[0]  # k=v&… written raw, not URL-encoded
    answer = signing.parse_response(reply.text)
    cert = trust(answer, merchant.middle, merchant.root)
    assert signing.names_unionpay(cert)
    for name in ("version", "encoding", "signMethod", "txnType", "txnSubType", "bizType", "accessType", "merId",
                 "orderId", "txnTime"):
        assert answer[name] == fields[name], name
    assert re.fullmatch(r".+\[\d{7}\]", answer["respMsg"])


def test_bad_signature_is_11(merchant: Merchant) -> None:
    signed = merchant.sign(merchant.qr_fields(new_order_id(), 100))
    answer = merchant.call(BACK, {**signed, "txnAmt": "99999"}, sign=False)
    assert answer["respCode"] == "11" and answer["respMsg"].startswith("验证签名失败[")
    assert merchant.call(BACK, {**signed, "signature": "AAAA"}, sign=False)["respCode"] == "11"


def test_cert_id_must_be_the_merchants(merchant: Merchant, sandbox: Sandbox) -> None:
    other = sandbox.provision()
    fields = merchant.qr_fields(new_order_id(), 100, certId=signing.cert_id(other.cert))
    assert merchant.call(BACK, fields)["respCode"] == "11"
    # signed with another merchant's key under that merchant's certId, in this merchant's name
    impostor = other.sign({**merchant.qr_fields(new_order_id(), 100), "certId": signing.cert_id(other.cert)})
    assert merchant.call(BACK, impostor, sign=False)["respCode"] == "11"


@pytest.mark.parametrize("name", ["backUrl", "txnAmt", "orderId", "certId", "version", "merId", "currencyCode",
                                  "signature"])
def test_missing_field_is_13(merchant: Merchant, name: str) -> None:
    fields = merchant.sign(merchant.qr_fields(new_order_id(), 100))
    fields.pop(name)
    if name != "signature":
        fields = merchant.sign({k: v for k, v in fields.items() if k != "signature"})
    answer = merchant.call(BACK, fields, sign=False)
    assert answer["respCode"] == "13" and answer["respMsg"].startswith("报文交易要素缺失[")


@pytest.mark.parametrize(("name", "value"), [
    ("version", "5.0.0"), ("encoding", "GBK"), ("signMethod", "11"), ("accessType", "1"), ("bizType", "000201"),
    ("channelType", "07"), ("currencyCode", "840"), ("txnAmt", "0100"), ("txnAmt", "0"), ("txnAmt", "1.00"),
    ("orderId", "short"), ("orderId", "has-dash-0001"), ("txnTime", "20251301000000"), ("backUrl", "ftp://x/y"),
    ("payTimeout", "tomorrow"), ("merId", "7771234"), ("txnSubType", "99"),
])
def test_bad_format_is_10(merchant: Merchant, name: str, value: str) -> None:
    answer = merchant.call(BACK, {**merchant.qr_fields(new_order_id(), 100), name: value})
    assert answer["respCode"] == "10" and answer["respMsg"].startswith("报文格式错误[")
    if name == "orderId" and "-" in value:
        assert "orderId" not in answer  # a malformed value is not echoed into the unencoded answer


def test_transaction_at_the_wrong_endpoint_is_10(merchant: Merchant) -> None:
    query = merchant.fields("00", "00", "000000", orderId=new_order_id())
    assert merchant.call(BACK, query)["respCode"] == "10"
    assert merchant.call(QUERY, merchant.qr_fields(new_order_id(), 100))["respCode"] == "10"
    front = merchant.fields("01", "01", "000201", channelType="07", orderId=new_order_id(), txnAmt="1",
                            currencyCode="156", frontUrl="https://shop.example/r", backUrl=merchant.back_url)
    assert merchant.call(BACK, front)["respCode"] == "10"


def test_unknown_merchant_is_31(merchant: Merchant) -> None:
    answer = merchant.call(BACK, merchant.qr_fields(new_order_id(), 100, merId="777000000000000"))
    assert answer["respCode"] == "31" and answer["respMsg"].startswith("商户状态不正确[")


def test_unparseable_requests_are_10(merchant: Merchant, sandbox: Sandbox) -> None:
    url = merchant.gateway_url + BACK
    for reply in (sandbox.http.post(url, json={"merId": merchant.mer_id}),
                  sandbox.http.post(url, content=b"merId=\xff\xfe", headers={
                      "content-type": "application/x-www-form-urlencoded"}),
                  sandbox.http.post(url, content=b"", headers={"content-type": "application/x-www-form-urlencoded"}),
                  sandbox.http.post(url, content=b"a=1&a=2", headers={
                      "content-type": "application/x-www-form-urlencoded"})):
        assert reply.status_code == 200
        answer = signing.parse_response(reply.text)
        trust(answer, merchant.middle, merchant.root)
        assert answer["respCode"] == "10"
