"""Refund arithmetic, as pure functions.

``reserved`` is what refunds already hold against a payment (processing + succeeded), ``shared`` what
profit sharing holds (shares to distributors, less what came back: :mod:`indiepay.sharing.rules`). A new
refund may take at most ``amount - reserved - shared`` — money a distributor received is not the buyer's
to get back until it is returned; a failed refund gives its reservation back; a succeeded one moves it
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


def refundable(amount: int, reserved: int, shared: int = 0) -> int:
    return max(amount - reserved - shared, 0)


def decide(*, payment_status: str, amount: int, reserved: int, requested: int, shared: int = 0) -> RefundDecision:
    """May a refund of ``requested`` fen be taken from this payment now?"""
    left = refundable(amount, reserved, shared)
    if payment_status != "succeeded":
        return RefundDecision(False, left, "payment_not_refundable")
    if requested <= 0:
        return RefundDecision(False, left, "invalid_amount")
    if requested > left:
        return RefundDecision(False, left, "refund_exceeds_refundable")
    return RefundDecision(True, left)
