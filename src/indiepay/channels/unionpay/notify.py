"""Verification and decoding of UnionPay back notifications (后台通知).

A notify is an ordinary URL-encoded form POST (UTF-8) to the ``backUrl`` the order named. It is trusted only
after its ``signPubKeyCert`` chains to the UnionPay root the merchant installed and its ``signature``
verifies (see :meth:`UnionpayClient.untrusted`), and after ``merId`` names this very account. UnionPay sends
a notify only for a transaction that succeeded (``respCode`` 00): a consumption (``txnType`` 01) or a
refund (``txnType`` 04, which names the refund by its own ``orderId`` and the paid order only by
``origQryId``).

No time window is enforced: UnionPay's notifies carry no send time (``txnTime`` is the order's), it resends
the same form up to five times over ~12 minutes, and the platform dedupes by notification id and applies
state changes conditionally, so a replay changes nothing.
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from indiepay.channels.base import (
    ChannelPayment,
    ChannelRefund,
    IncomingNotification,
    Notification,
    NotificationRejected,
    RefundState,
    TradeState,
)
from indiepay.channels.unionpay.client import SUCCESS, UnionpayClient, parse_trace_time, parse_txn_time

CONSUME, REFUND = "01", "04"


def decode_form(body: bytes) -> dict[str, str]:
    """A URL-encoded UTF-8 form as a dict. Raises NotificationRejected (not a form, repeated field)."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as exc:
        raise NotificationRejected("notify body is not URL-encoded") from exc
    form: dict[str, str] = {}
    for part in text.split("&"):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise NotificationRejected("notify body is not a URL-encoded form")
        try:
            name = unquote_to_bytes(key.replace("+", " ")).decode("utf-8")
            form_value = unquote_to_bytes(value.replace("+", " ")).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise NotificationRejected("notify is not valid UTF-8") from exc
        if name in form:
            raise NotificationRejected(f"notify repeats the field {name!r}")
        form[name] = form_value
    return form


def _amount(text: str | None) -> int:
    if not text or not text.isdigit() or len(text) > 12 or text.startswith("0"):
        raise NotificationRejected(f"notify txnAmt {text!r} is not an amount in fen")
    return int(text)


def parse_notify(incoming: IncomingNotification, client: UnionpayClient) -> Notification:
    """Verify a notify for ``client``'s account and map it to a :class:`Notification`.

    Raises:
        NotificationRejected: bad form, untrusted signer, bad signature, another merchant, a failure
            notice, or fields missing.
    """
    form = decode_form(incoming.body)
    problem = client.untrusted(form)
    if problem is not None:
        raise NotificationRejected(f"UnionPay notify: {problem}")
    if form.get("merId") != client.mer_id:
        raise NotificationRejected(f"notify is for merchant {form.get('merId')!r}, not this account",
                                   channel_code="mer_id_mismatch")
    order_id, query_id, txn_type = form.get("orderId"), form.get("queryId"), form.get("txnType", "")
    if not order_id or not query_id:
        raise NotificationRejected("notify without orderId or queryId")
    if form.get("respCode") != SUCCESS:
        raise NotificationRejected(f"notify with respCode {form.get('respCode')!r}: UnionPay notifies successes",
                                   channel_code=form.get("respCode") or None)
    raw = {k: v for k, v in form.items() if k not in ("signature", "signPubKeyCert")}
    notification_id = f"{txn_type}:{query_id}"
    order_time = parse_txn_time(form.get("txnTime"))
    happened_at = parse_trace_time(form.get("traceTime"), order_time)
    if txn_type == CONSUME:
        if form.get("currencyCode", "156") != "156":
            raise NotificationRejected(f"notify currencyCode {form.get('currencyCode')!r} is not CNY (156)")
        payment = ChannelPayment(out_trade_no=order_id, state=TradeState.SUCCEEDED, raw_state=SUCCESS,
                                 amount=_amount(form.get("txnAmt")), currency="CNY", channel_trade_no=query_id,
                                 paid_at=happened_at, payer_id=form.get("accNo") or None)
        return Notification(notification_id=notification_id, event_type="consume", payment=payment, raw=raw)
    if txn_type == REFUND:
        refund = ChannelRefund(out_refund_no=order_id, state=RefundState.SUCCEEDED, raw_state=SUCCESS,
                               amount=_amount(form.get("txnAmt")), channel_refund_no=query_id,
                               succeeded_at=happened_at)
        return Notification(notification_id=notification_id, event_type="refund", refund=refund, raw=raw)
    raise NotificationRejected(f"notify of txnType {txn_type!r}, which this platform never sends")
