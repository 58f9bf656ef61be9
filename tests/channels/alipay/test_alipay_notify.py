"""Alipay async notify verification: signature over the notify string, account checks, refund notifies."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
from tests.channels.alipay.alipay_fakes import APP_ID, SELLER_ID, Keys

from indiepay.channels.alipay import signing
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.channels.base import IncomingNotification, NotificationRejected, RefundState, TradeState

FORM_TYPE = {"content-type": "application/x-www-form-urlencoded; charset=utf-8"}


def notify_form(**overrides: str) -> dict[str, str]:
    form = {
        "notify_time": "2025-03-01 12:00:06", "notify_type": "trade_status_sync", "notify_id": "n_1",
        "charset": "utf-8", "version": "1.0", "app_id": APP_ID, "seller_id": SELLER_ID,
        "trade_no": "2025030122001400000000000001", "out_trade_no": "ord_1", "trade_status": "TRADE_SUCCESS",
        "total_amount": "12.34", "receipt_amount": "12.34", "buyer_id": "2088000000000099",
        "gmt_payment": "2025-03-01 12:00:05", "subject": "T恤 & more = 中文+",
    }
    form.update(overrides)
    return form


def signed_body(keys: Keys, form: dict[str, str], sign_type: str = "RSA2") -> bytes:
    sign = signing.rsa2_sign(keys.alipay, signing.notify_sign_content(form))
    return urlencode({**form, "sign_type": sign_type, "sign": sign}).encode("ascii")


def incoming(body: bytes) -> IncomingNotification:
    return IncomingNotification(headers=FORM_TYPE, body=body)


def test_payment_notify_verified(adapter: AlipayAdapter, keys: Keys) -> None:
    result = adapter.parse_notification(incoming(signed_body(keys, notify_form())))
    assert (result.notification_id, result.event_type, result.refund) == ("n_1", "TRADE_SUCCESS", None)
    payment = result.payment
    assert payment is not None
    assert (payment.out_trade_no, payment.state, payment.amount, payment.payer_id) == (
        "ord_1", TradeState.SUCCEEDED, 1234, "2088000000000099")
    assert payment.paid_at == datetime(2025, 3, 1, 4, 0, 5, tzinfo=UTC)
    assert result.raw["subject"] == "T恤 & more = 中文+" and "sign" not in result.raw


def test_every_flipped_byte_is_rejected(adapter: AlipayAdapter, keys: Keys) -> None:
    body = signed_body(keys, notify_form())
    rejected = 0
    for index in range(0, len(body), 7):
        flipped = bytearray(body)
        flipped[index] = ord("Z") if flipped[index] != ord("Z") else ord("Y")
        try:
            adapter.parse_notification(incoming(bytes(flipped)))
        except NotificationRejected:
            rejected += 1
        else:  # only a flip inside sign_type's value could be harmless, and that is rejected as well
            pytest.fail(f"flipped byte {index} accepted: {bytes(flipped)!r}")
    assert rejected > 10


def test_amount_tamper_and_missing_sign(adapter: AlipayAdapter, keys: Keys) -> None:
    body = signed_body(keys, notify_form()).replace(b"total_amount=12.34", b"total_amount=0.01")
    with pytest.raises(NotificationRejected, match="signature"):
        adapter.parse_notification(incoming(body))
    with pytest.raises(NotificationRejected, match="without sign"):
        adapter.parse_notification(incoming(urlencode(notify_form()).encode()))
    with pytest.raises(NotificationRejected, match="RSA2"):
        adapter.parse_notification(incoming(signed_body(keys, notify_form(), sign_type="RSA")))


def test_signed_by_another_key_rejected(adapter: AlipayAdapter, keys: Keys) -> None:
    form = notify_form()
    sign = signing.rsa2_sign(keys.app, signing.notify_sign_content(form))
    with pytest.raises(NotificationRejected):
        adapter.parse_notification(incoming(urlencode({**form, "sign_type": "RSA2", "sign": sign}).encode()))


def test_other_app_or_seller_rejected(adapter: AlipayAdapter, keys: Keys) -> None:
    with pytest.raises(NotificationRejected) as app_error:
        adapter.parse_notification(incoming(signed_body(keys, notify_form(app_id="2021000999999999"))))
    assert app_error.value.channel_code == "app_id_mismatch"
    with pytest.raises(NotificationRejected) as seller_error:
        adapter.parse_notification(incoming(signed_body(keys, notify_form(seller_id="2088999999999999"))))
    assert seller_error.value.channel_code == "seller_id_mismatch"
    no_seller = notify_form()
    del no_seller["seller_id"]
    with pytest.raises(NotificationRejected):
        adapter.parse_notification(incoming(signed_body(keys, no_seller)))


def test_refund_notify(adapter: AlipayAdapter, keys: Keys) -> None:
    form = notify_form(out_biz_no="re_1", refund_fee="2.00", gmt_refund="2025-03-01 12:30:00.123")
    result = adapter.parse_notification(incoming(signed_body(keys, form)))
    assert result.payment is None and result.refund is not None
    assert (result.refund.out_refund_no, result.refund.state, result.refund.out_trade_no) == (
        "re_1", RefundState.SUCCEEDED, "ord_1")
    assert result.refund.succeeded_at == datetime(2025, 3, 1, 4, 30, 0, 123000, tzinfo=UTC)


def test_closed_and_malformed(adapter: AlipayAdapter, keys: Keys) -> None:
    closed = adapter.parse_notification(incoming(signed_body(keys, notify_form(trade_status="TRADE_CLOSED"))))
    assert closed.payment is not None and closed.payment.state == TradeState.CLOSED
    for body in (b"not a form", b"a=1&a=2", b"\xff\xfe", signed_body(keys, notify_form(trade_status="WEIRD"))):
        with pytest.raises(NotificationRejected):
            adapter.parse_notification(incoming(body))


def test_gbk_notify(adapter: AlipayAdapter, keys: Keys) -> None:
    form = notify_form(charset="gbk", subject="中文商品")
    sign = signing.rsa2_sign(keys.alipay, signing.notify_sign_content(form))
    body = urlencode({**form, "sign_type": "RSA2", "sign": sign}, encoding="gbk").encode("ascii")
    result = adapter.parse_notification(IncomingNotification(headers={}, body=body))
    assert result.raw["subject"] == "中文商品"
