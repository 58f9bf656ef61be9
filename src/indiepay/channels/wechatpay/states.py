"""Mapping WeChat Pay's order and refund vocabulary onto the platform's neutral states.

WeChat speaks in ``trade_state`` (NOTPAY, USERPAYING, SUCCESS, REFUND, CLOSED, REVOKED, PAYERROR) and
refund ``status`` / ``refund_status`` (PROCESSING, SUCCESS, CLOSED, ABNORMAL), with RFC 3339 times in
Beijing time (``2024-05-01T12:00:00+08:00``). The same JSON shapes arrive from queries and from decrypted
callbacks, so one pair of functions serves both. An unknown state is kept raw and treated as pending:
guessing "failed" could lose money that was actually paid.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from indiepay.channels.base import ChannelPayment, ChannelRefund, RefundState, TradeState
from indiepay.core.clock import BUSINESS_TZ

TRADE_STATES: dict[str, TradeState] = {
    "NOTPAY": TradeState.PENDING,
    "USERPAYING": TradeState.PENDING,
    "SUCCESS": TradeState.SUCCEEDED,
    "REFUND": TradeState.SUCCEEDED,
    "CLOSED": TradeState.CLOSED,
    "REVOKED": TradeState.CLOSED,
    "PAYERROR": TradeState.FAILED,
}

REFUND_STATES: dict[str, RefundState] = {
    "SUCCESS": RefundState.SUCCEEDED,
    "PROCESSING": RefundState.PROCESSING,
    "CLOSED": RefundState.FAILED,
    "ABNORMAL": RefundState.ABNORMAL,
}


def format_time(value: datetime) -> str:
    """An aware datetime as WeChat's RFC 3339 in +08:00 (``2024-05-01T12:00:00+08:00``)."""
    if value.tzinfo is None:
        raise ValueError("naive datetime")
    return value.astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat()


def parse_time(value: Any) -> datetime | None:
    """RFC 3339 text → aware UTC datetime; ``None`` when absent or malformed."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=BUSINESS_TZ)
    return parsed.astimezone(UTC)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def payment_from_wechat(data: Mapping[str, Any]) -> ChannelPayment:
    """A query answer or a decrypted TRANSACTION.SUCCESS resource → :class:`ChannelPayment`."""
    raw_state = str(data.get("trade_state", ""))
    amount = _mapping(data.get("amount"))
    payer = _mapping(data.get("payer"))
    return ChannelPayment(
        out_trade_no=str(data.get("out_trade_no", "")),
        state=TRADE_STATES.get(raw_state, TradeState.PENDING),
        raw_state=raw_state,
        amount=_int_or_none(amount.get("total")),
        currency=amount.get("currency") or None,
        channel_trade_no=data.get("transaction_id") or None,
        paid_at=parse_time(data.get("success_time")),
        payer_id=payer.get("openid") or None,
    )


def refund_from_wechat(data: Mapping[str, Any]) -> ChannelRefund:
    """A refund create/query answer (``status``) or a decrypted REFUND.* resource (``refund_status``)."""
    raw_state = str(data.get("status") or data.get("refund_status") or "")
    amount = _mapping(data.get("amount"))
    return ChannelRefund(
        out_refund_no=str(data.get("out_refund_no", "")),
        state=REFUND_STATES.get(raw_state, RefundState.PROCESSING),
        raw_state=raw_state,
        out_trade_no=data.get("out_trade_no") or None,
        amount=_int_or_none(amount.get("refund")),
        channel_refund_no=data.get("refund_id") or None,
        succeeded_at=parse_time(data.get("success_time")),
    )
