"""The payment state machine, as plain data and functions (no database).

    pending ──► succeeded            (paid at the channel)
    pending ──► closed               (closed at the channel: by the merchant or on expiry)
    pending ──► failed               (the channel rejected the order outright)
    closed/failed ──► succeeded      (money arrived anyway: a *late payment*, flagged and alerted)

``refunded_amount`` grows with refunds but never past ``amount``; it does not change the status.
"""

from __future__ import annotations

from dataclasses import dataclass

from indiepay.channels.base import TradeState

PENDING = "pending"
SUCCEEDED = "succeeded"
CLOSED = "closed"
FAILED = "failed"
STATUSES = (PENDING, SUCCEEDED, CLOSED, FAILED)

# a 0.01 payment through one specific account that proves it works end to end; refunded automatically
ACCOUNT_VERIFICATION = "account_verification"
VERIFICATION_JOB = "account.verification"  # advances a verification after its payment or refund settles

ALLOWED: dict[str, frozenset[str]] = {
    PENDING: frozenset({SUCCEEDED, CLOSED, FAILED}),
    CLOSED: frozenset({SUCCEEDED}),
    FAILED: frozenset({SUCCEEDED}),
    SUCCEEDED: frozenset(),
}


@dataclass(frozen=True)
class Transition:
    """What the channel's view implies for our payment: a new status, and whether it is a late payment."""

    from_status: str
    to_status: str
    late: bool


def can_transition(current: str, target: str) -> bool:
    return target in ALLOWED.get(current, frozenset())


def transition_for(current: str, channel_state: TradeState) -> Transition | None:
    """The transition the channel's state asks for, or None when nothing changes.

    A channel that says "paid" always wins (money is never ignored); a channel that says "closed" or
    "failed" only moves a pending payment.
    """
    target = {TradeState.SUCCEEDED: SUCCEEDED, TradeState.CLOSED: CLOSED, TradeState.FAILED: FAILED}.get(
        channel_state)
    if target is None or not can_transition(current, target):
        return None
    return Transition(from_status=current, to_status=target, late=current in (CLOSED, FAILED))


QUERY_SCHEDULE_SECONDS = (15, 30, 60, 120, 300, 600, 1200, 1800, 3600)


def next_query_delay(attempt: int) -> int:
    """Seconds until the next active query of a pending payment (backoff, then hourly)."""
    return QUERY_SCHEDULE_SECONDS[min(attempt, len(QUERY_SCHEDULE_SECONDS) - 1)]
