"""Payment flows: provisioning, QR order → buyer pays → notify, query, the QR and cashier pages, payTimeout,
the gateway page with its front notification, and idempotent resends."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from tests.sandbox.unionpay.unionpay_sandbox_support import (
    BACK,
    FRONT,
    Merchant,
    Sandbox,
    forms_of,
    later,
    new_order_id,
    trust,
    wait_for,
)

from indiepay.channels.unionpay import signing


def test_provision_hands_out_a_merchant_key_and_the_chain_to_trust(sandbox: Sandbox) -> None:
    reply = sandbox.http.post(sandbox.base + "/_provision", json={})
    assert reply.status_code == 201
    body = reply.json()
    credentials = body["credentials"]
    assert set(credentials) == {"mer_id", "sign_private_key", "sign_cert", "middle_cert", "root_cert"}
    assert re.fullmatch(r"777\d{12}", credentials["mer_id"])
    assert "BEGIN PRIVATE KEY" in credentials["sign_private_key"]  # PKCS#8
    assert signing.load_private_key(credentials["sign_private_key"]).key_size == 2048
    assert body["gateway_url"] == sandbox.base
    middle = signing.load_certificate(credentials["middle_cert"])
    root = signing.load_certificate(credentials["root_cert"])
    middle.verify_directly_issued_by(root)
    merchant_cert = signing.load_certificate(credentials["sign_cert"])
    assert not signing.names_unionpay(merchant_cert)  # a merchant's own signature never passes for UnionPay's
    assert sandbox.http.post(sandbox.base + "/_provision", json={}).json()["credentials"]["mer_id"] != \
        credentials["mer_id"]


def test_qr_order_paid_by_the_buyer_is_notified_signed(merchant: Merchant, sandbox: Sandbox) -> None:
    order = merchant.qr_order(amount=1234, reqReserved="memo=a&b", orderDesc="沙箱商品")
    assert re.fullmatch(re.escape(sandbox.base) + r"/qr/\d{24}", order["qrCode"])
    paid = sandbox.http.post(sandbox.base + "/_buyer/pay", json={"qr_code": order["qrCode"]})
    assert paid.status_code == 200
    body = paid.json()
    assert body["mer_id"] == merchant.mer_id and body["order_id"] == order["orderId"]
    assert body["txn_amt"] == "1234" and body["resp_code"] == "00" and re.fullmatch(r"\d{21}", body["query_id"])
    [(form, ok)] = merchant.notifies()
    assert ok
    assert form["respCode"] == "00" and form["respMsg"] == "成功[0000000]"
    assert (form["txnType"], form["txnSubType"], form["bizType"]) == ("01", "07", "000000")
    assert (form["orderId"], form["txnTime"], form["txnAmt"]) == (order["orderId"], order["txnTime"], "1234")
    assert form["queryId"] == body["query_id"] and form["reqReserved"] == "memo=a&b"
    assert re.fullmatch(r"\d{6}", form["traceNo"]) and re.fullmatch(r"\d{10}", form["traceTime"])
    assert re.fullmatch(r"\d{4}", form["settleDate"]) and form["settleAmt"] == "1234"
    assert re.fullmatch(r"6216\*{8}\d{4}", form["accNo"])
    assert (form["payCardType"], form["payType"], form["currencyCode"]) == ("01", "0001", "156")
    again = sandbox.http.post(sandbox.base + "/_buyer/pay", json={"mer_id": merchant.mer_id,
                                                                   "order_id": order["orderId"]})
    assert (again.status_code, again.json()) == (409, {"error": "already_paid"})
    notify = wait_for(lambda: (n := merchant.inspect(order["orderId"])["notifies"][0])["delivered"] and n)
    assert notify["attempts"] == 1 and notify["log"][0].endswith("send 1: HTTP 200")


def test_query_paid_unpaid_and_wrong_txn_time(merchant: Merchant, sandbox: Sandbox) -> None:
    unpaid = merchant.qr_order()
    assert merchant.query(unpaid["orderId"], unpaid["txnTime"])["respCode"] == "34"
    order, query_id = merchant.paid_order(amount=500)
    answer = merchant.query(order["orderId"], order["txnTime"])
    assert (answer["respCode"], answer["origRespCode"], answer["respMsg"]) == ("00", "00", "成功[0000000]")
    assert (answer["txnType"], answer["txnSubType"]) == ("01", "07")
    assert (answer["queryId"], answer["txnAmt"], answer["settleAmt"]) == (query_id, "500", "500")
    assert (answer["currencyCode"], answer["settleCurrencyCode"]) == ("156", "156")
    assert answer["orderId"] == order["orderId"] and re.fullmatch(r"\d{4}", answer["settleDate"])
    sent = datetime.strptime(order["txnTime"], "%Y%m%d%H%M%S")
    wrong_time = (sent - timedelta(seconds=1)).strftime("%Y%m%d%H%M%S")  # a valid time, one second off
    assert merchant.query(order["orderId"], wrong_time)["respCode"] == "34"
    assert merchant.query(new_order_id(), order["txnTime"])["respCode"] == "34"
    assert sandbox.http.post(sandbox.base + "/_buyer/pay", json={"mer_id": merchant.mer_id,
                                                                  "order_id": "nosuchorder"}).status_code == 404


def test_qr_page_pays_through_its_button(merchant: Merchant, sandbox: Sandbox) -> None:
    order = merchant.qr_order(amount=250, orderDesc="<b>书</b>")
    page = sandbox.http.get(order["qrCode"])
    assert page.status_code == 200 and "¥2.50" in page.text and "&lt;b&gt;书" in page.text
    [(action, inputs)] = forms_of(page.text)
    assert action == sandbox.base + "/_cashier/pay"
    assert inputs == {"merId": merchant.mer_id, "orderId": order["orderId"]}
    paid = sandbox.http.post(action, data=inputs)
    assert paid.status_code == 200 and "支付成功" in paid.text
    [(_, ok)] = merchant.notifies()
    assert ok
    assert sandbox.http.post(action, data=inputs).status_code == 409
    assert sandbox.http.get(sandbox.base + "/qr/" + "0" * 24).status_code == 404


def test_pay_timeout_expires_the_code(merchant: Merchant, sandbox: Sandbox) -> None:
    order = merchant.qr_order(payTimeout=later(-1))
    reply = sandbox.http.post(sandbox.base + "/_buyer/pay", json={"qr_code": order["qrCode"]})
    assert (reply.status_code, reply.json()) == (409, {"error": "expired"})
    assert merchant.query(order["orderId"], order["txnTime"])["respCode"] == "34"
    live = merchant.qr_order(payTimeout=later(600))
    assert sandbox.http.post(sandbox.base + "/_buyer/pay", json={"qr_code": live["qrCode"]}).status_code == 200


def test_identical_resend_answers_the_same_and_reuse_is_duplicate(merchant: Merchant) -> None:
    fields = merchant.qr_fields(new_order_id(), 300)
    first = merchant.call(BACK, fields)
    second = merchant.call(BACK, fields)
    assert first["respCode"] == second["respCode"] == "00" and first["qrCode"] == second["qrCode"]
    changed = merchant.call(BACK, {**fields, "txnAmt": "301"})
    assert changed["respCode"] == "12" and changed["respMsg"].startswith("重复交易[")


def test_front_page_pays_and_posts_the_front_notification(merchant: Merchant, sandbox: Sandbox) -> None:
    order_id = new_order_id()
    front_url = "https://shop.example/return?x=1"
    fields = merchant.fields("01", "01", "000201", channelType="07", orderId=order_id, txnAmt="8800",
                             currencyCode="156", frontUrl=front_url, backUrl=merchant.back_url,
                             reqReserved="memo=1&more")
    page = merchant.post(FRONT, fields)
    assert page.status_code == 200 and "¥88.00" in page.text and merchant.mer_id in page.text
    [(action, inputs)] = forms_of(page.text)
    assert sandbox.http.post(sandbox.base + "/_buyer/pay", json={"mer_id": merchant.mer_id,
                                                                  "order_id": "x" + order_id}).status_code == 404
    done = sandbox.http.post(action, data=inputs)
    assert done.status_code == 200
    [(target, front)] = forms_of(done.text)
    assert target == front_url and "submit()" in done.text
    browser = {k: re.sub(r"\r?\n", "\r\n", v) for k, v in front.items()}  # form submission writes CRLF
    trust(browser, merchant.middle, merchant.root)  # what the browser posts verifies as signed
    assert front["signPubKeyCert"].count("\r\n") > 3
    assert (front["respCode"], front["orderId"], front["txnAmt"]) == ("00", order_id, "8800")
    assert (front["txnType"], front["txnSubType"], front["bizType"]) == ("01", "01", "000201")
    [(back, ok)] = merchant.notifies()
    assert ok and back == front
    assert merchant.query(order_id, fields["txnTime"])["origRespCode"] == "00"
    resend = merchant.post(FRONT, fields)  # the number is spent once paid
    assert resend.status_code == 400 and "12" in resend.text


def test_front_request_errors_render_a_page(merchant: Merchant) -> None:
    fields = merchant.fields("01", "01", "000201", channelType="07", orderId=new_order_id(), txnAmt="100",
                             currencyCode="156", frontUrl="https://shop.example/r", backUrl=merchant.back_url)
    bad = merchant.post(FRONT, {**merchant.sign(fields), "txnAmt": "200"}, sign=False)
    assert bad.status_code == 400 and 'id="respCode">11<' in bad.text and "验证签名失败[" in bad.text
    missing = merchant.post(FRONT, {k: v for k, v in fields.items() if k != "frontUrl"})
    assert missing.status_code == 400 and 'id="respCode">13<' in missing.text
    back_only = merchant.post(FRONT, merchant.qr_fields(new_order_id()))
    assert back_only.status_code == 400 and 'id="respCode">10<' in back_only.text

