"""Gateway fidelity (GET query strings, signatures, validation), fault knobs and persistence."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.sandbox.alipay.alipay_harness import MOUNT, Receiver, SandboxApp, provision, sandbox_parent
from tests.support.servers import serve_in_thread

from indiepay.channels.alipay import build_adapter, signing
from indiepay.channels.alipay.client import AlipayClient, AlipayResponse
from indiepay.channels.base import TradeState, UnknownOutcomeError
from indiepay.core.clock import SystemClock
from indiepay.sandbox.alipay import AlipaySandboxConfig


def raw_client(sbx: SandboxApp) -> AlipayClient:
    return AlipayClient(app_id=sbx.app_id,
                        app_private_key=signing.load_private_key(sbx.credentials["app_private_key"]),
                        alipay_public_key=signing.load_public_key(sbx.credentials["alipay_public_key"]),
                        gateway_url=sbx.gateway_url, http=sbx.http, clock=SystemClock())


def call(sbx: SandboxApp, method: str, biz: dict[str, Any]) -> AlipayResponse:
    return raw_client(sbx).call(method, biz, mutating=False)


def test_get_query_string_without_format(sbx: SandboxApp) -> None:
    client = raw_client(sbx)
    params = client.signed_params("alipay.trade.precreate", {"out_trade_no": "get_1", "total_amount": "0.01",
                                                             "subject": "GET / 查询串"})
    del params["format"], params["sign"]
    params["sign"] = signing.rsa2_sign(signing.load_private_key(sbx.credentials["app_private_key"]),
                                       signing.request_sign_content(params))
    reply = sbx.http.get(sbx.gateway_url, params=params)
    assert reply.status_code == 200
    assert '"qr_code":"https:\\/\\/qr.alipay.com\\/bax0' in reply.text  # written like the real gateway
    response = client.verify_response("alipay.trade.precreate", reply.text)
    assert response.ok and (response.field("qr_code") or "").startswith("https://qr.alipay.com/")


def test_query_by_trade_no(sbx: SandboxApp) -> None:
    qr = sbx.adapter.prepay(sbx.prepay("tn_1", 100))
    trade_no = sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url}).json()["trade_no"]
    response = call(sbx, "alipay.trade.query", {"trade_no": trade_no})
    assert (response.code, response.field("out_trade_no"), response.field("trade_status")) == (
        "10000", "tn_1", "TRADE_SUCCESS")
    assert call(sbx, "alipay.trade.query", {"trade_no": "2025" + "0" * 24}).sub_code == "ACQ.TRADE_NOT_EXIST"
    assert call(sbx, "alipay.trade.query", {}).code == "40002"


def test_bad_signature_and_unknown_app(sbx: SandboxApp) -> None:
    client = raw_client(sbx)
    params = client.signed_params("alipay.trade.query", {"out_trade_no": "x"})
    params["biz_content"] = '{"out_trade_no":"y"}'
    reply = sbx.http.post(sbx.gateway_url, data=params)
    name, raw, sign = signing.split_signed_response(reply.text, "alipay.trade.query")
    body = json.loads(raw)
    assert (name, body["code"], body["sub_code"]) == ("error_response", "40002", "isv.invalid-signature")
    assert sign is not None and client.verify_response("alipay.trade.query", reply.text).code == "40002"

    params["app_id"] = "2021999999999999"
    reply = sbx.http.post(sbx.gateway_url, data=params)
    assert json.loads(reply.text)["error_response"]["sub_code"] == "isv.invalid-app-id"
    with pytest.raises(UnknownOutcomeError, match="unsigned"):
        client.verify_response("alipay.trade.query", reply.text)


@pytest.mark.parametrize(("biz", "sub_code"), [
    ({"total_amount": "1.00", "subject": "s"}, "isv.missing-parameter"),
    ({"out_trade_no": "v1", "total_amount": "0.00", "subject": "s"}, "isv.invalid-total-amount"),
    ({"out_trade_no": "v1", "total_amount": "0.001", "subject": "s"}, "isv.invalid-total-amount"),
    ({"out_trade_no": "v1", "total_amount": "100000000.01", "subject": "s"}, "isv.invalid-total-amount"),
    ({"out_trade_no": "v1", "total_amount": "-1.00", "subject": "s"}, "isv.invalid-total-amount"),
    ({"out_trade_no": "v1", "total_amount": 1.005, "subject": "s"}, "isv.invalid-total-amount"),
    ({"out_trade_no": "v 1", "total_amount": "1.00", "subject": "s"}, "isv.invalid-parameter"),
    ({"out_trade_no": "v1", "total_amount": "1.00"}, "isv.missing-parameter"),
])
def test_precreate_validation(sbx: SandboxApp, biz: dict[str, Any], sub_code: str) -> None:
    response = call(sbx, "alipay.trade.precreate", biz)
    assert (response.code, response.sub_code) == ("40002", sub_code)


def test_amount_limits_accepted(sbx: SandboxApp) -> None:
    for number, amount in enumerate(("0.01", "100000000.00", "5", "5.5", 7.25)):
        response = call(sbx, "alipay.trade.precreate", {"out_trade_no": f"lim_{number}", "total_amount": amount,
                                                        "subject": "s"})
        assert response.ok, response


def test_faults_drop_and_duplicate(sbx: SandboxApp, receiver: Receiver) -> None:
    assert sbx.faults(drop_callbacks=2)["drop_callbacks"] == 2
    qr = sbx.adapter.prepay(sbx.prepay("drop_1", 100))
    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url}).status_code == 200
    got = receiver.wait_for(lambda n: n.raw.get("out_trade_no") == "drop_1", timeout=15)
    assert len(got) == 1
    notify = sbx.delivered_notify("drop_1")
    assert notify["attempts"] == 3
    assert [line.rsplit(": ", 1)[1] for line in notify["log"]] == ["dropped", "dropped", "success"]

    sbx.faults(duplicate_callbacks=True)
    qr = sbx.adapter.prepay(sbx.prepay("dup_1", 100))
    sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url})
    twice = receiver.wait_for(lambda n: n.raw.get("out_trade_no") == "dup_1", count=2)
    assert len(twice) == 2 and twice[0].notification_id == twice[1].notification_id


def test_notify_retried_until_success(sbx: SandboxApp, receiver: Receiver) -> None:
    receiver.refuse_first.add("retry_1")
    qr = sbx.adapter.prepay(sbx.prepay("retry_1", 100))
    sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url})
    got = receiver.wait_for(lambda n: n.raw.get("out_trade_no") == "retry_1", count=2)
    assert len(got) == 2
    assert sbx.delivered_notify("retry_1")["attempts"] == 2


def test_faults_500_and_hang(sbx: SandboxApp) -> None:
    sbx.faults(fail_with_500=1)
    with pytest.raises(UnknownOutcomeError) as failed:
        sbx.adapter.query_payment("h_1")
    assert failed.value.http_status == 500
    assert sbx.adapter.query_payment("h_1").state == TradeState.NOT_FOUND  # only one failure
    knobs = sbx.http.get(sbx.base + "/_faults", params={"app_id": sbx.app_id}).json()
    assert knobs["fail_with_500"] == 0

    sbx.faults(hang_seconds=1.0)
    impatient = httpx.Client(timeout=0.3)
    adapter = build_adapter(sbx.credentials, sbx.gateway_url, impatient, SystemClock())
    with pytest.raises(UnknownOutcomeError):
        adapter.prepay(sbx.prepay("h_2", 100))
    cleared = sbx.http.delete(sbx.base + "/_faults", params={"app_id": sbx.app_id}).json()
    assert cleared["hang_seconds"] == 0
    assert sbx.http.post(sbx.base + "/_faults", json={"app_id": "2021000000000000"}).status_code == 404
    assert sbx.http.post(sbx.base + "/_faults", json={"app_id": sbx.app_id, "nope": 1}).status_code == 422


def test_state_survives_restart(tmp_path: Path, receiver_base: str, receiver: Receiver) -> None:
    config = AlipaySandboxConfig(state_path=str(tmp_path / "alipay.db"), time_factor=1000)
    with serve_in_thread(sandbox_parent(config)) as base:
        sbx = provision(base + MOUNT, receiver_base, receiver)
        qr = sbx.adapter.prepay(sbx.prepay("keep_1", 500))
        sbx.faults(drop_callbacks=1, callback_delay_seconds=5)
        assert sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": qr.code_url}).status_code == 200
    assert receiver.wait_for(lambda n: n.raw.get("out_trade_no") == "keep_1", timeout=0.2) == []
    with serve_in_thread(sandbox_parent(config)) as base:
        sbx.base = base + MOUNT
        adapter = build_adapter(sbx.credentials, sbx.gateway_url, sbx.http, SystemClock())
        assert adapter.query_payment("keep_1").state == TradeState.SUCCEEDED  # also resumes the notify
        got = receiver.wait_for(lambda n: n.raw.get("out_trade_no") == "keep_1", timeout=10)
        assert len(got) == 1  # first attempt dropped by the knob, the resumed retry delivered it


def test_buyer_api_errors(sbx: SandboxApp, sandbox_base: str, receiver_base: str, receiver: Receiver) -> None:
    assert sbx.http.post(sbx.base + "/_buyer/pay", json={}).status_code == 400
    assert sbx.http.post(sbx.base + "/_buyer/pay", json={"app_id": sbx.app_id, "out_trade_no": "nope"}
                         ).status_code == 404
    other = provision(sandbox_base, receiver_base, receiver)
    qr = sbx.adapter.prepay(sbx.prepay("mine_1", 100))
    assert other.adapter.query_payment("mine_1").state == TradeState.NOT_FOUND  # apps are isolated
    assert qr.code_url
