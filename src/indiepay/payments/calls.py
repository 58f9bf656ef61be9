"""Calling a channel and recording the call: one row per request, never a secret.

The outcome classes follow the port's error tree: ``ok``, ``rejected`` (terminal), ``retryable``
(definitely not done), ``unknown`` (may have happened: resolve by querying, never by failing over).
The call runs outside any transaction; its record is written in the transaction that applies its
result, so a call costs no extra commit.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from indiepay.channels.base import (
    ChannelError,
    RetryableChannelError,
    TerminalChannelError,
)
from indiepay.core.clock import Clock
from indiepay.core.ids import new_id
from indiepay.db.prepared import Prepared
from indiepay.payments.models import ChannelCall

T = TypeVar("T")


@dataclass(frozen=True)
class CallOutcome(Generic[T]):
    operation: str
    value: T | None
    outcome: str
    error: ChannelError | None
    duration_ms: int


def call_channel(operation: str, fn: Callable[[], T]) -> CallOutcome[T]:
    """Run ``fn`` (a channel call) and classify what happened. Never raises a ChannelError."""
    started = time.perf_counter()
    value: T | None = None
    error: ChannelError | None = None
    try:
        value = fn()
        outcome = "ok"
    except TerminalChannelError as exc:
        outcome, error = "rejected", exc
    except RetryableChannelError as exc:
        outcome, error = "retryable", exc
    except ChannelError as exc:
        outcome, error = "unknown", exc
    return CallOutcome(operation=operation, value=value, outcome=outcome, error=error,
                       duration_ms=int((time.perf_counter() - started) * 1000))


CALLS: Table = ChannelCall.__table__  # type: ignore[assignment]
# every channel call writes one: compiled once and run on the driver (see indiepay.db.prepared)
_INSERT_CALL = Prepared(insert(CALLS), ("id", "payment_id", "refund_id", "operation", "outcome", "channel_code",
                                        "message", "duration_ms", "created_at"))


def record_call(session: Session, clock: Clock, call: CallOutcome[Any], *, payment_id: str,
                refund_id: str | None = None) -> None:
    """Add the call's log row to the caller's transaction."""
    _INSERT_CALL.execute(session, {
        "id": new_id("call"), "payment_id": payment_id, "refund_id": refund_id, "operation": call.operation,
        "outcome": call.outcome, "channel_code": call.error.channel_code if call.error else None,
        "message": call.error.message[:1000] if call.error else None, "duration_ms": call.duration_ms,
        "created_at": clock.now()})
