"""Verification and decoding of Alipay async notifies (``notify_type=trade_status_sync``).

A notify is an ``application/x-www-form-urlencoded`` POST. It is trusted only after the RSA2 signature
over the notify canonical string (``sign`` *and* ``sign_type`` dropped) verifies with the Alipay public
key, and after ``app_id`` and ``seller_id`` name this very account: a correctly signed notify for another
app of the same merchant must not move our payments.

No time window is enforced: Alipay re-sends the same notify (same ``notify_id``) for about 25 hours
when it does not read ``success``, and it documents no freshness rule for ``notify_time``. Replays are
harmless because the platform dedupes by ``notify_id`` and applies state transitions conditionally.

A notify carrying ``out_biz_no`` + ``refund_fee`` + ``gmt_refund`` reports a refund (``refund_fee`` is
the *cumulative* amount refunded on the trade, so the refund's own amount is left unset); any other is a
payment status change.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing
from indiepay.channels.alipay.client import parse_timestamp
from indiepay.channels.base import (
    ChannelPayment,
    ChannelRefund,
    IncomingNotification,
    Notification,
    NotificationRejected,
    RefundState,
    TradeState,
)
from indiepay.core.errors import InvalidRequest
from indiepay.core.money import yuan_to_fen

PAYMENT_STATES = {
    "WAIT_BUYER_PAY": TradeState.PENDING,
    "TRADE_SUCCESS": TradeState.SUCCEEDED,
    "TRADE_FINISHED": TradeState.SUCCEEDED,
    "TRADE_CLOSED": TradeState.CLOSED,
}
REFUND_EVENT = "REFUND_SUCCESS"
_CHARSETS = {"utf-8": "utf-8", "utf8": "utf-8", "gbk": "gbk", "gb2312": "gbk", "gb18030": "gb18030"}


@dataclass(frozen=True)
class AccountIdentity:
    """What a notify must match: this account's app and seller, and the key Alipay signs with."""

    app_id: str
    seller_id: str
    alipay_public_key: rsa.RSAPublicKey


def decode_form(body: bytes, content_type: str = "") -> dict[str, str]:
    """Decode a urlencoded body in the charset it declares (``charset`` field, else the header, else UTF-8).

    Raises:
        NotificationRejected: not a form, a repeated field, or undecodable text.
    """
    pairs = _form_pairs(body)
    declared = next((v for k, v in pairs if k == b"charset"), b"").decode("ascii", "replace").lower()
    if not declared and "charset=" in content_type.lower():
        declared = content_type.lower().split("charset=", 1)[1].split(";")[0].strip()
    charset = _CHARSETS.get(declared or "utf-8")
    if charset is None:
        raise NotificationRejected(f"unsupported notify charset {declared!r}")
    form: dict[str, str] = {}
    for raw_key, raw_value in pairs:
        try:
            key, value = raw_key.decode(charset), raw_value.decode(charset)
        except UnicodeDecodeError as exc:
            raise NotificationRejected(f"notify is not valid {charset}") from exc
        if key in form:
            raise NotificationRejected(f"notify repeats the field {key!r}")
        form[key] = value
    return form


def _form_pairs(body: bytes) -> list[tuple[bytes, bytes]]:
    """Split a urlencoded body into percent-decoded byte pairs (the charset is applied afterwards)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise NotificationRejected("notify body is not urlencoded") from exc
    pairs: list[tuple[bytes, bytes]] = []
    for part in text.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise NotificationRejected("notify body is not a urlencoded form")
        pairs.append((unquote_to_bytes(key.replace("+", " ")), unquote_to_bytes(value.replace("+", " "))))
    return pairs


def verify_notify_form(form: dict[str, str], public_key: rsa.RSAPublicKey) -> None:
    """Check ``sign`` over the notify canonical string. Raises NotificationRejected."""
    sign = form.get("sign")
    if not sign:
        raise NotificationRejected("notify without sign")
    if form.get("sign_type", "RSA2") != "RSA2":
        raise NotificationRejected(f"notify sign_type {form.get('sign_type')!r} is not RSA2")
    if not signing.rsa2_verify(public_key, signing.notify_sign_content(form), sign):
        raise NotificationRejected("notify signature does not verify")


def parse_notify(incoming: IncomingNotification, account: AccountIdentity) -> Notification:
    """Verify a notify for ``account`` and map it to a :class:`Notification`.

    Raises:
        NotificationRejected: bad form, bad signature, another app/seller, or missing fields.
    """
    form = decode_form(incoming.body, incoming.headers.get("content-type", ""))
    verify_notify_form(form, account.alipay_public_key)
    if form.get("app_id") != account.app_id:
        raise NotificationRejected(f"notify is for app {form.get('app_id')!r}, not this account",
                                   channel_code="app_id_mismatch")
    if form.get("seller_id") != account.seller_id:
        raise NotificationRejected(f"notify is for seller {form.get('seller_id')!r}, not this account",
                                   channel_code="seller_id_mismatch")
    notify_id = form.get("notify_id")
    out_trade_no = form.get("out_trade_no")
    if not notify_id or not out_trade_no:
        raise NotificationRejected("notify without notify_id or out_trade_no")
    raw = dict(form)
    raw.pop("sign", None)
    if form.get("out_biz_no") and form.get("refund_fee") and form.get("gmt_refund"):
        refund = ChannelRefund(
            out_refund_no=form["out_biz_no"], state=RefundState.SUCCEEDED, raw_state=REFUND_EVENT,
            out_trade_no=out_trade_no, amount=None, channel_refund_no=form.get("trade_no") or None,
            succeeded_at=parse_timestamp(form["gmt_refund"]),
        )
        return Notification(notification_id=notify_id, event_type=REFUND_EVENT, refund=refund, raw=raw)
    trade_status = form.get("trade_status", "")
    state = PAYMENT_STATES.get(trade_status)
    if state is None:
        raise NotificationRejected(f"notify with unknown trade_status {trade_status!r}")
    payment = ChannelPayment(
        out_trade_no=out_trade_no,
        state=state,
        raw_state=trade_status,
        amount=_fen(form.get("total_amount")),
        currency="CNY",
        channel_trade_no=form.get("trade_no") or None,
        paid_at=parse_timestamp(form.get("gmt_payment")) if state == TradeState.SUCCEEDED else None,
        payer_id=form.get("buyer_id") or form.get("buyer_open_id") or None,
    )
    return Notification(notification_id=notify_id, event_type=trade_status, payment=payment, raw=raw)


def _fen(text: str | None) -> int:
    if not text:
        raise NotificationRejected("notify without total_amount")
    try:
        return yuan_to_fen(text)
    except InvalidRequest as exc:
        raise NotificationRejected(f"notify total_amount {text!r} is not a yuan amount") from exc
