"""Refund arithmetic, as pure functions.

``reserved`` is what refunds already hold against a payment (processing + succeeded). A new refund may
take at most ``amount - reserved``; a failed refund gives its reservation back; a succeeded one moves it
into ``refunded_amount``. The database enforces the same bound with one conditional update, so the rule
also holds under concurrency.
"""

from __future__ import annotations

from dataclasses import dataclass

PROCESSING, SUCCEEDED, FAILED = "processing", "succeeded", "failed"
STATUSES = (PROCESSING, SUCCEEDED, FAILED)  # processing → succeeded | failed, once


@dataclass(frozen=True)
class RefundDecision:
    allowed: bool
    refundable: int
    code: str | None = None


def refundable(amount: int, reserved: int) -> int:
    return max(amount - reserved, 0)


def decide(*, payment_status: str, amount: int, reserved: int, requested: int) -> RefundDecision:
    """May a refund of ``requested`` fen be taken from this payment now?"""
    left = refundable(amount, reserved)
    if payment_status != "succeeded":
        return RefundDecision(False, left, "payment_not_refundable")
    if requested <= 0:
        return RefundDecision(False, left, "invalid_amount")
    if requested > left:
        return RefundDecision(False, left, "refund_exceeds_refundable")
    return RefundDecision(True, left)
