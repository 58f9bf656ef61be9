"""Callback verification: the wechatpay-go vector, and every way a callback must be refused."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from wechatpay_fakes import APIV3_KEY, adapter_for, reply, rsa_key, signed_headers

from indiepay.channels.base import IncomingNotification, NotificationRejected, RefundState, TradeState
from indiepay.channels.wechatpay import notify, signing
from indiepay.channels.wechatpay.keys import PlatformKeys
from indiepay.core.clock import FixedClock

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "samples"
VECTOR: dict[str, Any] = json.loads((SAMPLES / "wechatpay_v3_notify_vector_wechatpay-go.json").read_text())
VECTOR_TS = int(VECTOR["headers"]["Wechatpay-Timestamp"])


def vector_verifier(at: int = VECTOR_TS, mchid: str = "1234567890") -> notify.NotificationVerifier:
    clock = FixedClock(datetime.fromtimestamp(at, UTC))
    keys = PlatformKeys(public_key_id=None, public_key=None, fetcher=None, clock=clock)
    cert_key = signing.load_public_key(VECTOR["platform_certificate_pem"])
    keys.add_certificate("D7CE59D1F522D701", cert_key)
    return notify.NotificationVerifier(keys=keys, apiv3_key=VECTOR["apiv3_key"].encode(), clock=clock,
                                       mchid=mchid, appid="054aa7d7a2a54ab5898df65bd96f001c")


def vector_incoming(headers: dict[str, str] | None = None, body: bytes | None = None) -> IncomingNotification:
    merged = {k.lower(): v for k, v in VECTOR["headers"].items()}
    merged.update(headers or {})
    return IncomingNotification(headers=merged, body=VECTOR["body"].encode() if body is None else body)


def test_vector_verifies_and_decrypts() -> None:
    verified = vector_verifier().verify(vector_incoming())
    assert verified.plaintext == VECTOR["expected_plaintext"].encode()
    assert verified.event["event_type"] == "PAYSCORE.USER_OPEN_SERVICE"
    with pytest.raises(NotificationRejected) as exc:  # verified, but not an event this platform handles
        notify.to_notification(verified)
    assert exc.value.channel_code == "UNSUPPORTED_EVENT"


def test_any_flipped_body_byte_is_rejected() -> None:
    verifier = vector_verifier()
    body = VECTOR["body"].encode()
    for index in range(len(body)):
        tampered = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
        with pytest.raises(NotificationRejected):
            verifier.verify(vector_incoming(body=tampered))


def test_any_flipped_signature_byte_is_rejected() -> None:
    verifier = vector_verifier()
    signature = VECTOR["headers"]["Wechatpay-Signature"]
    raw = base64.b64decode(signature)
    for index in range(len(raw)):
        tampered = base64.b64encode(raw[:index] + bytes([raw[index] ^ 0x01]) + raw[index + 1:]).decode()
        with pytest.raises(NotificationRejected):
            verifier.verify(vector_incoming({"wechatpay-signature": tampered}))
    for index in range(len(signature)):  # and every character of its text form
        char = chr(ord(signature[index]) ^ 0x01)
        with pytest.raises(NotificationRejected):
            verifier.verify(vector_incoming({"wechatpay-signature": signature[:index] + char + signature[index + 1:]}))


@pytest.mark.parametrize("offset", [-301, -300, 300, 301])
def test_timestamp_window(offset: int) -> None:
    with pytest.raises(NotificationRejected) as exc:
        vector_verifier(at=VECTOR_TS + offset).verify(vector_incoming())
    assert exc.value.channel_code == "TIMESTAMP_EXPIRED"


@pytest.mark.parametrize("offset", [-299, 299])
def test_inside_window_accepted(offset: int) -> None:
    assert vector_verifier(at=VECTOR_TS + offset).verify(vector_incoming()).plaintext


def test_wrong_serial_signtest_mchid_and_missing_headers() -> None:
    verifier = vector_verifier()
    with pytest.raises(NotificationRejected) as exc:
        verifier.verify(vector_incoming({"wechatpay-serial": "0123456789ABCDEF"}))
    assert exc.value.channel_code == "UNKNOWN_SERIAL"
    with pytest.raises(NotificationRejected) as exc:
        verifier.verify(vector_incoming({"wechatpay-signature": "WECHATPAY/SIGNTEST/" + "A" * 40}))
    assert exc.value.channel_code == "SIGNTEST"
    with pytest.raises(NotificationRejected) as exc:
        vector_verifier(mchid="1900000109").verify(vector_incoming())
    assert exc.value.channel_code == "MCHID_MISMATCH"
    with pytest.raises(NotificationRejected) as exc:
        verifier.verify(IncomingNotification(headers={}, body=VECTOR["body"].encode()))
    assert exc.value.channel_code == "MISSING_SIGNATURE"


def _callback(event_type: str, resource: dict[str, Any], original_type: str = "transaction",
              **sign_args: Any) -> IncomingNotification:
    nonce = "abcdefghijkl"
    body = json.dumps({
        "id": "EV-1", "create_time": "2024-05-01T12:00:00+08:00", "resource_type": "encrypt-resource",
        "event_type": event_type, "summary": "支付成功",
        "resource": {"original_type": original_type, "algorithm": "AEAD_AES_256_GCM",
                     "ciphertext": signing.aead_encrypt(APIV3_KEY.encode(), nonce, original_type,
                                                        json.dumps(resource).encode()),
                     "associated_data": original_type, "nonce": nonce},
    }, ensure_ascii=False).encode()
    headers = {k.lower(): v for k, v in signed_headers(body, **sign_args).items()}
    return IncomingNotification(headers=headers, body=body)


PAID = {"mchid": "1900000109", "appid": "wxd678efh567hg6787", "out_trade_no": "T20240501001",
        "transaction_id": "4200000001202405010000000001", "trade_type": "NATIVE", "trade_state": "SUCCESS",
        "success_time": "2024-05-01T12:00:05+08:00", "payer": {"openid": "oUser"},
        "amount": {"total": 100, "payer_total": 100, "currency": "CNY", "payer_currency": "CNY"}}


def test_payment_and_refund_notifications_through_the_adapter() -> None:
    adapter, _ = adapter_for(lambda request: reply(500))
    note = adapter.parse_notification(_callback("TRANSACTION.SUCCESS", PAID))
    assert note.notification_id == "EV-1" and note.payment is not None and note.refund is None
    assert note.payment.state is TradeState.SUCCEEDED and note.payment.amount == 100
    assert note.payment.paid_at == datetime(2024, 5, 1, 4, 0, 5, tzinfo=UTC)
    refund = {"mchid": "1900000109", "out_trade_no": "T20240501001", "out_refund_no": "R1", "refund_id": "50",
              "refund_status": "SUCCESS", "success_time": "2024-05-01T13:00:00+08:00",
              "amount": {"total": 100, "refund": 40, "payer_total": 100, "payer_refund": 40}}
    note = adapter.parse_notification(_callback("REFUND.SUCCESS", refund, "refund"))
    assert note.refund is not None and note.refund.state is RefundState.SUCCEEDED and note.refund.amount == 40
    abnormal = adapter.parse_notification(_callback("REFUND.ABNORMAL", {**refund, "refund_status": "ABNORMAL"},
                                                    "refund"))
    assert abnormal.refund is not None and abnormal.refund.state is RefundState.ABNORMAL


def test_adapter_rejects_foreign_and_forged_callbacks() -> None:
    adapter, _ = adapter_for(lambda request: reply(500))
    for incoming, code in [
        (_callback("TRANSACTION.SUCCESS", {**PAID, "mchid": "1900000999"}), "MCHID_MISMATCH"),
        (_callback("TRANSACTION.SUCCESS", {**PAID, "appid": "wxother"}), "APPID_MISMATCH"),
        (_callback("TRANSACTION.SUCCESS", PAID, key=rsa_key("attacker")), "SIGN_ERROR"),
        (_callback("TRANSACTION.SUCCESS", PAID, serial="PUB_KEY_ID_0199"), "UNKNOWN_SERIAL"),
        (_callback("TRANSACTION.SUCCESS", PAID, timestamp=int(datetime.now(UTC).timestamp()) - 301),
         "TIMESTAMP_EXPIRED"),
    ]:
        with pytest.raises(NotificationRejected) as exc:
            adapter.parse_notification(incoming)
        assert exc.value.channel_code == code


def test_replies() -> None:
    ok = notify.notification_reply(True)
    assert ok.status_code == 204 and ok.body == b""
    bad = notify.notification_reply(False, "签名错误")
    assert bad.status_code == 400 and json.loads(bad.body) == {"code": "FAIL", "message": "签名错误"}
