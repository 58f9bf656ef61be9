"""Verifying and decoding WeChat Pay v3 callbacks (支付/退款结果通知).

A callback is believed only after, in this order: the four ``Wechatpay-*`` headers are present; the
signature is not a ``WECHATPAY/SIGNTEST/`` probe (WeChat sends those on purpose to check that we verify:
the right answer is an error); the timestamp is less than 300 s from our clock in either direction; the
signature over ``timestamp\\nnonce\\nraw body\\n`` verifies with the key named by ``Wechatpay-Serial``;
the resource decrypts under the APIv3 key; and the decrypted ``mchid`` (and ``appid`` for payments) is
this account's. Only then does it become a channel-neutral :class:`Notification`. Anything else raises
:class:`NotificationRejected` and must change nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from indiepay.channels.base import (
    ChannelPayment,
    ChannelRefund,
    IncomingNotification,
    Notification,
    NotificationRejected,
    NotificationReply,
)
from indiepay.channels.wechatpay import signing
from indiepay.channels.wechatpay.client import within_window
from indiepay.channels.wechatpay.keys import KeyResolver
from indiepay.channels.wechatpay.states import payment_from_wechat, refund_from_wechat
from indiepay.core.clock import Clock

PAYMENT_EVENTS = frozenset({"TRANSACTION.SUCCESS"})
REFUND_EVENTS = frozenset({"REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"})
# rejections that no other credential set could turn into an acceptance (not worth a second attempt)
NOT_KEY_RELATED = frozenset({"MISSING_SIGNATURE", "SIGNTEST", "TIMESTAMP_EXPIRED", "UNSUPPORTED_EVENT"})


@dataclass(frozen=True)
class VerifiedCallback:
    """A callback whose signature, time window, encryption and addressee all checked out."""

    event: Mapping[str, Any]
    resource: Mapping[str, Any]
    plaintext: bytes


def _reject(message: str, code: str) -> NotificationRejected:
    return NotificationRejected(message, channel_code=code)


class NotificationVerifier:
    """Verifies callbacks addressed to one merchant account (``mchid`` + ``appid``)."""

    def __init__(self, *, keys: KeyResolver, apiv3_key: bytes, clock: Clock, mchid: str, appid: str) -> None:
        self._keys = keys
        self._apiv3_key = apiv3_key
        self._clock = clock
        self._mchid = mchid
        self._appid = appid

    def verify(self, incoming: IncomingNotification) -> VerifiedCallback:
        """Check everything and decrypt the resource. Raises NotificationRejected."""
        headers = {name.lower(): value for name, value in incoming.headers.items()}
        timestamp = headers.get("wechatpay-timestamp", "")
        nonce = headers.get("wechatpay-nonce", "")
        signature = headers.get("wechatpay-signature", "")
        serial = headers.get("wechatpay-serial", "")
        if not (timestamp and nonce and signature and serial):
            raise _reject("callback lacks Wechatpay-* signature headers", "MISSING_SIGNATURE")
        if signing.SIGNTEST_MARKER in signature:
            raise _reject("WeChat Pay SIGNTEST probe", "SIGNTEST")
        if not within_window(timestamp, self._clock.now().timestamp()):
            raise _reject("callback timestamp outside the 300 s window", "TIMESTAMP_EXPIRED")
        key = self._keys.resolve(serial)
        if key is None:
            raise _reject(f"callback signed with unknown serial {serial!r}", "UNKNOWN_SERIAL")
        if not signing.verify(key, signing.response_message(timestamp, nonce, incoming.body), signature):
            raise _reject("callback signature does not verify", "SIGN_ERROR")
        event = _load_object(incoming.body, "callback body")
        resource = event.get("resource")
        if not isinstance(resource, dict):
            raise _reject("callback has no resource", "PARAM_ERROR")
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise _reject(f"unsupported algorithm {resource.get('algorithm')!r}", "PARAM_ERROR")
        try:
            plaintext = signing.aead_decrypt(self._apiv3_key, str(resource.get("nonce", "")),
                                             str(resource.get("associated_data", "")),
                                             str(resource.get("ciphertext", "")))
        except signing.SignatureError as exc:
            raise _reject("callback resource does not decrypt", "DECRYPT_ERROR") from exc
        decrypted = _load_object(plaintext, "callback resource")
        event_type = str(event.get("event_type", ""))
        if decrypted.get("mchid") != self._mchid:
            raise _reject("callback names another mchid", "MCHID_MISMATCH")
        if event_type not in REFUND_EVENTS and "appid" in decrypted and decrypted.get("appid") != self._appid:
            raise _reject("callback names another appid", "APPID_MISMATCH")
        if event_type in PAYMENT_EVENTS and "appid" not in decrypted:
            raise _reject("payment callback without appid", "APPID_MISMATCH")
        return VerifiedCallback(event=event, resource=decrypted, plaintext=plaintext)


def _load_object(raw: bytes, what: str) -> dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise _reject(f"{what} is not JSON", "PARAM_ERROR") from exc
    if not isinstance(data, dict):
        raise _reject(f"{what} is not an object", "PARAM_ERROR")
    return data


def to_notification(verified: VerifiedCallback) -> Notification:
    """Turn a verified callback into the neutral :class:`Notification`. Raises NotificationRejected for
    event types this platform does not handle (WeChat retries them; they need code, not silence)."""
    event_type = str(verified.event.get("event_type", ""))
    notification_id = str(verified.event.get("id", ""))
    raw = {"event": dict(verified.event), "resource": dict(verified.resource)}
    payment: ChannelPayment | None = None
    refund: ChannelRefund | None = None
    if event_type in PAYMENT_EVENTS:
        payment = payment_from_wechat(verified.resource)
    elif event_type in REFUND_EVENTS:
        refund = refund_from_wechat(verified.resource)
    else:
        raise _reject(f"unsupported event type {event_type!r}", "UNSUPPORTED_EVENT")
    return Notification(notification_id=notification_id, event_type=event_type, payment=payment,
                        refund=refund, raw=raw)


def notification_reply(accepted: bool, message: str = "") -> NotificationReply:
    """204 with no body stops WeChat's retries; a 400 ``{"code":"FAIL"}`` asks it to retry."""
    if accepted:
        return NotificationReply(status_code=204, body=b"", content_type="application/json")
    body = json.dumps({"code": "FAIL", "message": message or "失败"}, ensure_ascii=False).encode("utf-8")
    return NotificationReply(status_code=400, body=body, content_type="application/json")

