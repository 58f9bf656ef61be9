"""A channel account's health, as a circuit breaker.

Why: when a merchant's WeChat Pay or Alipay account starts timing out or answering 5xx, every payment sent
to it makes a buyer wait for a timeout and then leaves a payment whose outcome is unknown. A breaker stops
sending new payments to that account after repeated failures, lets routing send them to the next account
(another primary, or a backup), and after a cool-down lets a few *probe* payments through to find out
whether the account has recovered.

What counts (the outcome classes of :func:`indiepay.payments.calls.call_channel`):

* ``retryable`` (the channel errored, nothing was done) and ``unknown`` (timeout: it may have been done)
  are **failures**;
* ``ok`` and ``rejected`` are **successes** for health: a business refusal (insufficient balance, order
  already paid, bad openid) proves the gateway answered coherently. A refusal is never a health failure.

States::

    closed ──(N consecutive failures, or failure rate ≥ R% over the sliding window with ≥ M calls)──▶ open
    open ──(cool-down elapsed; lazily, on the next look)──▶ half_open
    half_open ──(a probe succeeds)──▶ closed          (cool-down back to its base)
    half_open ──(a probe fails)──▶ open               (cool-down × multiplier, capped)

The transitions are pure functions over a frozen :class:`BreakerState` and an injected ``now``, so they
are unit-tested with a fake clock and could later be kept in a shared store. :class:`HealthRegistry` is
the small thread-safe, in-memory holder for one process. Each process then learns an account's health on
its own — acceptable for a breaker (the worst case with P processes is P times the probes), and it is why
nothing here is needed for correctness: routing only *prefers* healthy accounts.

Probes: in ``half_open`` at most ``half_open_probes`` calls may be in flight. A caller claims a slot with
:func:`admit` (the registry does it atomically) and releases it by recording the call's outcome. A claim
never reported (the process crashed mid-call) expires after ``probe_timeout``, so a breaker cannot be stuck
half open. Any outcome recorded in ``half_open`` is taken as a probe result; outcomes recorded while
``open`` belong to calls started before the breaker tripped and are ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from indiepay.core.clock import Clock

Status = Literal["closed", "open", "half_open"]
Outcome = Literal["ok", "rejected", "retryable", "unknown"]
Availability = Literal["closed", "open", "half_open"]
"""What routing may do with an account now: ``closed`` take traffic; ``half_open`` take a probe (a slot is
free); ``open`` take nothing — the breaker is open, or it is half open with every probe slot in flight."""

OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))
FAILURES: frozenset[str] = frozenset({"retryable", "unknown"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class BreakerConfig:
    """Thresholds of every account's breaker. The defaults suit a gateway called a few times a second.

    * ``consecutive_failures`` (5): this many failures in a row open the breaker — catches a dead gateway
      even at low traffic.
    * ``failure_rate_percent`` (50), ``min_calls`` (20), ``window`` (60 s), ``buckets`` (10): the breaker
      also opens when, over the last ``window`` (kept as ``buckets`` fixed slices, so memory stays constant
      at any traffic), at least ``min_calls`` calls were made and failures are ≥ that percentage of them —
      catches a flapping gateway that never fails five times in a row.
    * ``cool_down`` (30 s): how long an opened breaker stays open before probes are let through;
      each failed probe multiplies it by ``cool_down_multiplier`` (2), up to ``max_cool_down`` (10 min).
    * ``half_open_probes`` (1): probe calls allowed in flight at once while half open.
    * ``probe_timeout`` (60 s): a claimed probe never reported frees its slot after this long (longer than
      any channel call's own timeout).
    """

    consecutive_failures: int = 5
    failure_rate_percent: int = 50
    min_calls: int = 20
    window: timedelta = timedelta(seconds=60)
    buckets: int = 10
    cool_down: timedelta = timedelta(seconds=30)
    cool_down_multiplier: int = 2
    max_cool_down: timedelta = timedelta(minutes=10)
    half_open_probes: int = 1
    probe_timeout: timedelta = timedelta(seconds=60)

    def __post_init__(self) -> None:
        checks = {
            "consecutive_failures must be ≥ 1": self.consecutive_failures >= 1,
            "failure_rate_percent must be within 1..100": 1 <= self.failure_rate_percent <= 100,
            "min_calls must be ≥ 1": self.min_calls >= 1,
            "buckets must be ≥ 1": self.buckets >= 1,
            "window must split into whole microsecond buckets":
                self.buckets >= 1 and self.window > timedelta(0)
                and self.window % (_MICROSECOND * self.buckets) == timedelta(0),
            "cool_down must be positive": self.cool_down > timedelta(0),
            "cool_down_multiplier must be ≥ 1": self.cool_down_multiplier >= 1,
            "max_cool_down must be ≥ cool_down": self.max_cool_down >= self.cool_down,
            "half_open_probes must be ≥ 1": self.half_open_probes >= 1,
            "probe_timeout must be positive": self.probe_timeout > timedelta(0),
        }
        failed = [message for message, ok in checks.items() if not ok]
        if failed:
            raise ValueError("invalid BreakerConfig: " + "; ".join(failed))

    def cool_down_after(self, trips: int) -> timedelta:
        """The cool-down of the ``trips``-th opening in a row (1 = first): base × multiplier^(trips−1), capped."""
        cool_down = self.cool_down
        for _ in range(max(trips - 1, 0)):
            if cool_down >= self.max_cool_down:
                break
            cool_down *= self.cool_down_multiplier
        return min(cool_down, self.max_cool_down)


DEFAULT_CONFIG = BreakerConfig()


@dataclass(frozen=True)
class Bucket:
    """Calls and failures recorded in one slice of the sliding window (``index`` counts slices since 1970)."""

    index: int
    calls: int
    failures: int


@dataclass(frozen=True)
class BreakerState:
    """One account's breaker. ``status`` is as stored: an ``open`` breaker whose cool-down has elapsed is
    half open from then on, which :func:`advance` makes explicit."""

    status: Status = "closed"
    consecutive_failures: int = 0
    window: tuple[Bucket, ...] = ()
    opened_at: datetime | None = None
    cool_down: timedelta = timedelta(0)
    trips: int = 0  # openings in a row without a close; drives the growing cool-down
    probes: tuple[datetime, ...] = ()  # when each in-flight probe was admitted

    @property
    def failures_in_window(self) -> int:
        return sum(bucket.failures for bucket in self.window)

    @property
    def calls_in_window(self) -> int:
        return sum(bucket.calls for bucket in self.window)


CLOSED = BreakerState()


def _check_now(now: datetime) -> None:
    if now.tzinfo is None:
        raise ValueError("the breaker needs an aware datetime")


def advance(state: BreakerState, now: datetime, config: BreakerConfig = DEFAULT_CONFIG) -> BreakerState:
    """``state`` as it stands at ``now``: open → half_open once the cool-down has elapsed; expired probe
    claims dropped."""
    _check_now(now)
    if state.status == "open" and state.opened_at is not None and now >= state.opened_at + state.cool_down:
        state = replace(state, status="half_open", probes=())
    if state.status == "half_open" and state.probes:
        live = tuple(at for at in state.probes if now < at + config.probe_timeout)
        if live != state.probes:
            state = replace(state, probes=live)
    return state


def availability(state: BreakerState, now: datetime, config: BreakerConfig = DEFAULT_CONFIG) -> Availability:
    """What routing may do with the account at ``now`` (see :data:`Availability`)."""
    state = advance(state, now, config)
    if state.status == "closed":
        return "closed"
    if state.status == "half_open" and len(state.probes) < config.half_open_probes:
        return "half_open"
    return "open"


def admit(state: BreakerState, now: datetime,
          config: BreakerConfig = DEFAULT_CONFIG) -> tuple[bool, BreakerState]:
    """May a call go to the account now? Half open, a yes claims a probe slot (kept in the returned state)."""
    state = advance(state, now, config)
    if state.status == "closed":
        return True, state
    if state.status == "half_open" and len(state.probes) < config.half_open_probes:
        return True, replace(state, probes=(*state.probes, now))
    return False, state


def record(state: BreakerState, outcome: str, now: datetime,
           config: BreakerConfig = DEFAULT_CONFIG) -> BreakerState:
    """The state after a call to the account ended with ``outcome`` (ok | rejected | retryable | unknown).

    Raises:
        ValueError: ``outcome`` is not one of the four classes, or ``now`` is naive.
    """
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown call outcome {outcome!r}")
    failed = outcome in FAILURES
    state = advance(state, now, config)
    if state.status == "open":
        return state  # a call started before the breaker tripped: it says nothing new
    if state.status == "half_open":
        return _trip(state, now, config) if failed else CLOSED
    window = _add_to_window(state.window, now, failed, config)
    consecutive = state.consecutive_failures + 1 if failed else 0
    state = replace(state, consecutive_failures=consecutive, window=window)
    if failed and (consecutive >= config.consecutive_failures or _rate_exceeded(window, config)):
        return _trip(state, now, config)
    return state


def _trip(state: BreakerState, now: datetime, config: BreakerConfig) -> BreakerState:
    trips = state.trips + 1
    return BreakerState(status="open", opened_at=now, cool_down=config.cool_down_after(trips), trips=trips)


def _bucket_index(now: datetime, config: BreakerConfig) -> int:
    return ((now - _EPOCH) // _MICROSECOND) // ((config.window // config.buckets) // _MICROSECOND)


def _add_to_window(window: tuple[Bucket, ...], now: datetime, failed: bool,
                   config: BreakerConfig) -> tuple[Bucket, ...]:
    index = _bucket_index(now, config)
    kept = [bucket for bucket in window if index - config.buckets < bucket.index <= index]
    if kept and kept[-1].index == index:
        last = kept.pop()
        kept.append(Bucket(index, last.calls + 1, last.failures + int(failed)))
    else:
        kept.append(Bucket(index, 1, int(failed)))
    return tuple(kept)


def _rate_exceeded(window: tuple[Bucket, ...], config: BreakerConfig) -> bool:
    calls = sum(bucket.calls for bucket in window)
    failures = sum(bucket.failures for bucket in window)
    return calls >= config.min_calls and failures * 100 >= config.failure_rate_percent * calls


class HealthRegistry:
    """Breaker states by account id for one process, safe to share between threads.

    Accounts never seen are closed. Every method reads the injected clock once, under the lock, so each
    call is one atomic transition.
    """

    def __init__(self, clock: Clock, config: BreakerConfig = DEFAULT_CONFIG) -> None:
        self._clock = clock
        self.config = config
        self._states: dict[str, BreakerState] = {}
        self._lock = threading.Lock()

    def state(self, account_id: str) -> BreakerState:
        """The account's breaker as it stands now."""
        with self._lock:
            return advance(self._states.get(account_id, CLOSED), self._clock.now(), self.config)

    def availability(self, account_id: str) -> Availability:
        """What routing may do with the account now (the value for ``AccountSnapshot.health``)."""
        with self._lock:
            return availability(self._states.get(account_id, CLOSED), self._clock.now(), self.config)

    def availabilities(self, account_ids: Iterable[str]) -> dict[str, Availability]:
        """:meth:`availability` of several accounts at one instant."""
        with self._lock:
            now = self._clock.now()
            return {account_id: availability(self._states.get(account_id, CLOSED), now, self.config)
                    for account_id in account_ids}

    def admit(self, account_id: str) -> bool:
        """Claim the right to call the account now; half open, this takes a probe slot (False when none is
        free, or when the breaker is open). Record the call's outcome afterwards to release the slot."""
        with self._lock:
            allowed, state = admit(self._states.get(account_id, CLOSED), self._clock.now(), self.config)
            self._store(account_id, state)
            return allowed

    def record(self, account_id: str, outcome: str) -> BreakerState:
        """Feed a call's outcome (ok | rejected | retryable | unknown) to the account's breaker."""
        with self._lock:
            state = record(self._states.get(account_id, CLOSED), outcome, self._clock.now(), self.config)
            self._store(account_id, state)
            return state

    def forget(self, account_id: str) -> None:
        """Close the account's breaker (e.g. after its credentials were replaced)."""
        with self._lock:
            self._states.pop(account_id, None)

    def _store(self, account_id: str, state: BreakerState) -> None:
        if state == CLOSED:
            self._states.pop(account_id, None)  # keep only the accounts with something to remember
        else:
            self._states[account_id] = state
