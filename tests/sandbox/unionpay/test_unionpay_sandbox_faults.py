"""Notify delivery (resends on the compressed schedule) and the fault knobs: drop, duplicate, delay, 500,
hang, foreign signer; gateway certificate rotation."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from tests.sandbox.unionpay.unionpay_sandbox_support import BACK, Merchant, Sandbox, new_order_id, trust, wait_for

from indiepay.channels.unionpay import signing


def _delivered(merchant: Merchant, order_id: str) -> dict[str, Any]:
    notify: dict[str, Any] = wait_for(
        lambda: (n := merchant.inspect(order_id)["notifies"]) and (n[0]["delivered"] or n[0]["attempts"] >= 5)
        and n[0])
    return notify


def test_non_200_is_resent_on_the_schedule(merchant: Merchant, sandbox: Sandbox) -> None:
    sandbox.receiver.refuse[merchant.mer_id] = 2
    started = time.monotonic()
    order, _ = merchant.paid_order()
    notify = _delivered(merchant, order["orderId"])
    assert notify["attempts"] == 3 and notify["delivered"]
    assert [line.split(": ", 1)[1] for line in notify["log"]] == ["HTTP 500", "HTTP 500", "HTTP 200"]
    assert time.monotonic() - started >= (60 + 120) / 1000  # gaps of 1 and 2 minutes, compressed 1000x
    forms = [form for form, _ in merchant.notifies(count=3)]
    assert forms[0] == forms[1] == forms[2]  # each resend carries the same signed form


def test_gives_up_after_five_sends(merchant: Merchant, sandbox: Sandbox) -> None:
    sandbox.receiver.refuse[merchant.mer_id] = 99
    order, _ = merchant.paid_order()
    notify = wait_for(lambda: (n := merchant.inspect(order["orderId"])["notifies"][0])["attempts"] == 5 and n)
    assert not notify["delivered"]
    time.sleep(0.35)  # the last gap (5 minutes) is 0.3 s here: nothing more comes
    assert len(sandbox.receiver.notifies(merchant.mer_id)) == 5


def test_drop_duplicate_and_delay_knobs(merchant: Merchant, sandbox: Sandbox) -> None:
    merchant.faults(drop_callbacks=2)
    order, _ = merchant.paid_order()
    notify = _delivered(merchant, order["orderId"])
    assert [line.split(": ", 1)[1] for line in notify["log"]] == ["dropped", "dropped", "HTTP 200"]
    assert len(merchant.notifies()) == 1

    merchant.faults(duplicate_callbacks=True)
    merchant.paid_order()
    pair = merchant.notifies(count=3)[1:]
    assert pair[0] == pair[1]
    merchant.faults(duplicate_callbacks=False, callback_delay_seconds=0.4)
    merchant.paid_order()
    time.sleep(0.2)
    assert len(sandbox.receiver.notifies(merchant.mer_id)) == 3
    assert len(merchant.notifies(count=4)) == 4


def test_fail_with_500_does_not_execute(merchant: Merchant, sandbox: Sandbox) -> None:
    merchant.faults(fail_with_500=1)
    fields = merchant.qr_fields(new_order_id(), 100)
    reply = merchant.post(BACK, fields)
    assert reply.status_code == 500
    assert sandbox.http.get(f"{sandbox.base}/_orders/{merchant.mer_id}/{fields['orderId']}").status_code == 404
    assert merchant.call(BACK, fields)["respCode"] == "00"
    assert merchant.faults()["fail_with_500"] == 0


def test_hang_then_execute(merchant: Merchant, sandbox: Sandbox) -> None:
    merchant.faults(hang_seconds=0.6)
    fields = merchant.qr_fields(new_order_id(), 100)
    with pytest.raises(httpx.TimeoutException):
        merchant.post(BACK, fields, timeout=0.2)
    sandbox.http.delete(sandbox.base + "/_faults", params={"mer_id": merchant.mer_id})
    wait_for(lambda: sandbox.http.get(f"{sandbox.base}/_orders/{merchant.mer_id}/{fields['orderId']}")
             .status_code == 200)  # it did happen: the resend gets the first answer
    assert merchant.call(BACK, fields)["respCode"] == "00"


def test_foreign_signer_fails_the_chain_check(merchant: Merchant) -> None:
    merchant.faults(foreign_signer=True)
    reply = merchant.post(BACK, merchant.qr_fields(new_order_id(), 100))
    answer = signing.parse_response(reply.text)
    cert = signing.load_certificate(answer["signPubKeyCert"])
    assert signing.names_unionpay(cert)  # it looks like UnionPay's and its signature is consistent...
    public = cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey) and signing.verify(public, answer)
    with pytest.raises(signing.CertificateRejected):  # ...but it does not chain to the installed root
        trust(answer, merchant.middle, merchant.root)
    merchant.faults(foreign_signer=False)
    merchant.call(BACK, merchant.qr_fields(new_order_id(), 100))  # trusted again


def test_foreign_signer_notify_is_rejected_by_the_receiver(merchant: Merchant, sandbox: Sandbox) -> None:
    order = merchant.qr_order()
    merchant.faults(foreign_signer=True)
    sandbox.http.post(sandbox.base + "/_buyer/pay", json={"qr_code": order["qrCode"]})
    (_, ok), *resends = merchant.notifies()  # refused, so resent 60 ms later (compressed)
    assert not ok and not any(ok for _, ok in resends)


def test_gateway_cert_rotation_keeps_verifying_by_chain(merchant: Merchant, sandbox: Sandbox) -> None:
    before = merchant.call(BACK, merchant.qr_fields(new_order_id(), 100))
    rotated = sandbox.http.post(sandbox.base + "/_gateway_cert/rotate")
    assert rotated.status_code == 200
    body = rotated.json()
    after = merchant.call(BACK, merchant.qr_fields(new_order_id(), 100))  # call() checks chain + signature
    assert after["signPubKeyCert"] == body["sign_pub_key_cert"] != before["signPubKeyCert"]
    assert signing.cert_id(signing.load_certificate(after["signPubKeyCert"])) == body["cert_id"]
    merchant.paid_order()
    [(form, ok)] = merchant.notifies()
    assert ok and form["signPubKeyCert"] == body["sign_pub_key_cert"]


def test_fault_api_validation(merchant: Merchant, sandbox: Sandbox) -> None:
    url = sandbox.base + "/_faults"
    assert sandbox.http.post(url, json={"mer_id": merchant.mer_id, "explode": True}).status_code == 400
    assert sandbox.http.post(url, json={"mer_id": merchant.mer_id, "drop_callbacks": -1}).status_code == 400
    unknown = sandbox.http.post(url, json={"mer_id": "777000000000000"})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "merchant_not_found")
    view = merchant.faults(drop_callbacks=3, refund_fail=True)
    assert (view["drop_callbacks"], view["refund_fail"], view["hang_seconds"]) == (3, True, 0.0)
    assert sandbox.http.get(url, params={"mer_id": merchant.mer_id}).json() == view
    reset = sandbox.http.delete(url, params={"mer_id": merchant.mer_id}).json()
    assert reset["drop_callbacks"] == 0 and reset["refund_fail"] is False
    assert sandbox.http.post(sandbox.base + "/_buyer/pay", json={}).status_code == 400
