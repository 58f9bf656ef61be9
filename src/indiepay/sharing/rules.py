"""Profit-sharing arithmetic and states, as pure functions.

A payment's money is held three ways: by refunds (``refund_reserved``), by shares (``shared_reserved``:
processing and succeeded shares, less what returns brought back) and the rest, still the merchant's.
A new share may take at most ``amount − refund_reserved − shared_reserved``, and refunds are bound by
the same sum, so money shared to a distributor is never also refunded to the buyer. The database enforces
the bound with one conditional update, so it holds under concurrency. The channels add their own limit
(by default 30 % of an order may be shared); their refusal fails the order and gives the money back.
"""

from __future__ import annotations

from dataclasses import dataclass

from indiepay.channels.sharing import ReceiverType, TransferResult

PROCESSING, FINISHED, FAILED = "processing", "finished", "failed"
ORDER_STATUSES = (PROCESSING, FINISHED, FAILED)
PENDING, SUCCEEDED, CLOSED = "pending", "succeeded", "closed"
ACTIVE, REMOVED = "active", "removed"

LINE_RESULTS = {TransferResult.PENDING: PENDING, TransferResult.SUCCEEDED: SUCCEEDED, TransferResult.CLOSED: CLOSED}


@dataclass(frozen=True)
class ShareDecision:
    allowed: bool
    shareable: int
    code: str | None = None


def shareable(amount: int, refund_reserved: int, shared_reserved: int) -> int:
    return max(amount - refund_reserved - shared_reserved, 0)


def decide(*, payment_status: str, opened_for_sharing: bool, finished: bool, amount: int, refund_reserved: int,
           shared_reserved: int, requested: int, finish: bool) -> ShareDecision:
    """May shares of ``requested`` fen (and, with ``finish``, the unfreezing of the rest) be asked for now?"""
    left = shareable(amount, refund_reserved, shared_reserved)
    if payment_status != "succeeded":
        return ShareDecision(False, left, "payment_not_shareable")
    if not opened_for_sharing:
        return ShareDecision(False, left, "payment_not_opened_for_sharing")
    if finished:
        return ShareDecision(False, left, "profit_sharing_finished")
    if requested <= 0 and not finish:
        return ShareDecision(False, left, "invalid_amount")
    if requested > left:
        return ShareDecision(False, left, "share_exceeds_shareable")
    return ShareDecision(True, left)


def receiver_fits(receiver_type: str, channel: str) -> bool:
    """A receiver type belongs to one channel (WeChat merchant/openid, Alipay user id/login/open id)."""
    try:
        return ReceiverType(receiver_type).channel == channel
    except ValueError:
        return False


def name_hint(name: str | None) -> str | None:
    """What is kept of a legal name: its last character behind a mask ("*三"), never the whole name."""
    return f"*{name.strip()[-1]}" if name and name.strip() else None

