"""Calling a channel and recording the call: one row per request, never a secret.

The outcome classes follow the port's error tree: ``ok``, ``rejected`` (terminal), ``retryable``
(definitely not done), ``unknown`` (may have happened: resolve by querying, never by failing over).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from indiepay.channels.base import (
    ChannelError,
    RetryableChannelError,
    TerminalChannelError,
)
from indiepay.context import ServiceContext
from indiepay.core.ids import new_id
from indiepay.payments.models import ChannelCall

T = TypeVar("T")


@dataclass(frozen=True)
class CallOutcome(Generic[T]):
    value: T | None
    outcome: str
    error: ChannelError | None


def call_channel(ctx: ServiceContext, *, payment_id: str, operation: str, fn: Callable[[], T],
                 refund_id: str | None = None) -> CallOutcome[T]:
    """Run ``fn`` (a channel call, outside any transaction) and log it in its own short transaction."""
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
    duration_ms = int((time.perf_counter() - started) * 1000)
    with ctx.db.transaction() as session:
        session.add(ChannelCall(id=new_id("call"), payment_id=payment_id, refund_id=refund_id,
                                operation=operation, outcome=outcome,
                                channel_code=error.channel_code if error else None,
                                message=error.message[:1000] if error else None,
                                duration_ms=duration_ms, created_at=ctx.clock.now()))
    return CallOutcome(value=value, outcome=outcome, error=error)
