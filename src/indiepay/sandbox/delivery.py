"""How a simulated gateway delivers one callback: on its channel's resend schedule, with the fault knobs.

The gateways differ in what they send and in what counts as accepted (Alipay: the body ``success``;
UnionPay: HTTP 200), not in the delivery itself: the first attempt after an optional delay, then one per
gap of the schedule (divided by the time factor) until accepted or the schedule runs out; each attempt's
outcome appended to the record's log and the record saved, so a restarted gateway resumes where it was.
A dropped attempt counts as a failed one (as a lost callback would); a duplicated one is sent twice at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar


class Attempted(Protocol):
    """A persisted callback: how many attempts it had, whether one was accepted, and their log."""

    attempts: int
    delivered: bool
    log: list[str]


R = TypeVar("R", bound=Attempted)


async def deliver(*, load: Callable[[], R | None], save: Callable[[R], None], gaps: Sequence[float],
                  time_factor: float, attempt: Callable[[R], Awaitable[str]], accepted: str,
                  stamp: Callable[[int, str], str], delay: float = 0.0) -> None:
    """Attempt the callback ``load`` returns until one outcome is ``accepted`` or ``gaps`` run out.

    ``gaps[n]`` is the wait before attempt ``n + 1`` (the first is ignored: ``delay`` is the wait before it);
    ``stamp(n, outcome)`` is attempt ``n``'s log line. The record is read again before every attempt, so a
    change made meanwhile (another process delivered it) is seen.
    """
    if delay > 0:
        await asyncio.sleep(delay)
    while True:
        record = load()
        if record is None or record.delivered or record.attempts >= len(gaps):
            return
        gap = gaps[record.attempts] / time_factor
        if record.attempts > 0 and gap > 0:
            await asyncio.sleep(gap)
        outcome = await attempt(record)
        record = load() or record
        record.attempts += 1
        record.log.append(stamp(record.attempts, outcome))
        record.delivered = outcome == accepted
        save(record)


async def attempt_with_faults(*, dropped: bool, duplicated: bool, post: Callable[[], Awaitable[str]],
                              accepted: str) -> str:
    """One attempt under the fault knobs: ``dropped`` never sends; ``duplicated`` sends twice at once
    (accepted if either copy was)."""
    if dropped:
        return "dropped"
    results = await asyncio.gather(*(post() for _ in range(2 if duplicated else 1)))
    return accepted if accepted in results else results[0]
