"""The breaker's pure transitions with a fake clock: consecutive failures and the failure-rate window open
it, a business refusal never does, the cool-down half-opens it (growing after failed probes, capped),
probes are limited and expire, and a probe's outcome closes or re-opens it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from indiepay.routing import health
from indiepay.routing.health import CLOSED, BreakerConfig, BreakerState, admit, availability, record

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
CONFIG = BreakerConfig(consecutive_failures=3, failure_rate_percent=50, min_calls=10, window=timedelta(seconds=60),
                       buckets=6, cool_down=timedelta(seconds=30), cool_down_multiplier=2,
                       max_cool_down=timedelta(seconds=100), half_open_probes=2, probe_timeout=timedelta(seconds=20))
S = timedelta(seconds=1)


def feed(state: BreakerState, outcomes: str, at: datetime = T0, step: timedelta = timedelta(0)) -> BreakerState:
    """Record outcomes given as letters: o ok, j rejected, r retryable, u unknown."""
    names = {"o": "ok", "j": "rejected", "r": "retryable", "u": "unknown"}
    for number, letter in enumerate(outcomes):
        state = record(state, names[letter], at + step * number, CONFIG)
    return state


def opened(at: datetime = T0) -> BreakerState:
    state = feed(CLOSED, "rrr", at)
    assert state.status == "open" and state.opened_at == at
    return state


@pytest.mark.parametrize(("outcomes", "status"), [
    ("rr", "closed"), ("rrr", "open"), ("uuu", "open"), ("rur", "open"),
    ("rrorr", "closed"),  # a success breaks the run
    ("rrjrr", "closed"),  # so does a business refusal: the gateway answered
    ("jjjjjjjjjj", "closed"),  # refusals are never health failures
])
def test_consecutive_failures_open_the_breaker(outcomes: str, status: str) -> None:
    assert feed(CLOSED, outcomes).status == status


@pytest.mark.parametrize(("outcomes", "status"), [
    ("rorororor", "closed"),  # 9 calls, 5 failed: fewer than min_calls
    ("oorororoor", "closed"),  # 10 calls, 4 failed: 40 %
    ("ororororor", "open"),  # 10 calls, 5 failed: 50 %, never two failures in a row
    ("o" * 10 + "orr" * 9 + "or", "closed"),  # 39 calls, 19 failed: 48.7 %
    ("o" * 10 + "orr" * 10, "open"),  # 40 calls, 20 failed, never three in a row
])
def test_failure_rate_over_the_window_opens_it(outcomes: str, status: str) -> None:
    assert feed(CLOSED, outcomes).status == status


def test_rate_counts_only_the_sliding_window() -> None:
    state = feed(CLOSED, "rorororo", T0)  # 8 calls, 4 failed, in the first bucket
    state = feed(state, "o", T0 + 70 * S)  # those buckets have slid out of the 60 s window
    assert state.calls_in_window == 1
    state = feed(state, "roro", T0 + 71 * S)
    assert state.status == "closed" and (state.calls_in_window, state.failures_in_window) == (5, 2)
    assert len(state.window) <= CONFIG.buckets


def test_window_memory_is_bounded_by_buckets() -> None:
    state = feed(CLOSED, "o" * 500, T0, step=S)
    assert len(state.window) == CONFIG.buckets
    assert state.calls_in_window == 60  # the 60 s window at one call a second


def test_open_until_the_cool_down_then_half_open() -> None:
    state = opened()
    assert availability(state, T0 + 29 * S, CONFIG) == "open"
    assert admit(state, T0 + 29 * S, CONFIG)[0] is False
    assert availability(state, T0 + 30 * S, CONFIG) == "half_open"
    assert health.advance(state, T0 + 30 * S, CONFIG).status == "half_open"


def test_outcomes_recorded_while_open_are_ignored() -> None:
    state = opened()
    assert feed(state, "ooouuu", T0 + S) == state


def test_probes_are_limited_and_released_by_their_outcome() -> None:
    state = opened()
    now = T0 + 30 * S
    first, state = admit(state, now, CONFIG)
    second, state = admit(state, now, CONFIG)
    third, state = admit(state, now, CONFIG)
    assert (first, second, third) == (True, True, False)
    assert availability(state, now, CONFIG) == "open"  # half open, but every probe slot is in flight
    assert state.status == "half_open" and len(state.probes) == 2


def test_a_lost_probe_frees_its_slot_after_the_probe_timeout() -> None:
    state = opened()
    now = T0 + 30 * S
    for _ in range(2):
        _, state = admit(state, now, CONFIG)
    assert availability(state, now + 19 * S, CONFIG) == "open"
    assert availability(state, now + 20 * S, CONFIG) == "half_open"
    assert admit(state, now + 20 * S, CONFIG)[0] is True


@pytest.mark.parametrize("outcome", ["ok", "rejected"])
def test_a_successful_probe_closes_it_and_resets_the_cool_down(outcome: str) -> None:
    state = opened()
    _, state = admit(state, T0 + 30 * S, CONFIG)
    state = record(state, outcome, T0 + 31 * S, CONFIG)
    assert state == CLOSED
    assert opened(T0 + 40 * S).cool_down == CONFIG.cool_down


@pytest.mark.parametrize("outcome", ["retryable", "unknown"])
def test_a_failed_probe_reopens_it_with_a_growing_capped_cool_down(outcome: str) -> None:
    state = opened()
    at = T0
    cool_downs = [state.cool_down]
    for _ in range(4):
        at += state.cool_down
        allowed, state = admit(state, at, CONFIG)
        assert allowed
        state = record(state, outcome, at + S, CONFIG)
        assert state.status == "open" and state.opened_at == at + S
        at += S
        cool_downs.append(state.cool_down)
    assert cool_downs == [30 * S, 60 * S, 100 * S, 100 * S, 100 * S]  # ×2, capped at 100 s
    assert availability(state, at + 99 * S, CONFIG) == "open"
    assert availability(state, at + 100 * S, CONFIG) == "half_open"


def test_cool_down_after_many_trips_stays_capped() -> None:
    assert DEFAULTS.cool_down_after(1) == timedelta(seconds=30)
    assert DEFAULTS.cool_down_after(2) == timedelta(seconds=60)
    assert DEFAULTS.cool_down_after(10_000) == timedelta(minutes=10)


DEFAULTS = health.DEFAULT_CONFIG


def test_documented_defaults() -> None:
    assert (DEFAULTS.consecutive_failures, DEFAULTS.failure_rate_percent, DEFAULTS.min_calls) == (5, 50, 20)
    assert (DEFAULTS.window, DEFAULTS.buckets, DEFAULTS.cool_down) == (60 * S, 10, 30 * S)
    assert (DEFAULTS.cool_down_multiplier, DEFAULTS.max_cool_down) == (2, timedelta(minutes=10))
    assert (DEFAULTS.half_open_probes, DEFAULTS.probe_timeout) == (1, 60 * S)


@pytest.mark.parametrize("fields", [
    {"consecutive_failures": 0}, {"failure_rate_percent": 0}, {"failure_rate_percent": 101}, {"min_calls": 0},
    {"buckets": 0}, {"window": timedelta(0)}, {"window": timedelta(microseconds=7), "buckets": 2},
    {"cool_down": timedelta(0)}, {"cool_down_multiplier": 0}, {"max_cool_down": timedelta(seconds=1)},
    {"half_open_probes": 0}, {"probe_timeout": timedelta(0)}])
def test_invalid_config_is_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="invalid BreakerConfig"):
        BreakerConfig(**fields)  # type: ignore[arg-type]


def test_bad_outcome_and_naive_time_are_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        record(CLOSED, "timeout", T0)
    with pytest.raises(ValueError, match="aware"):
        record(CLOSED, "ok", datetime(2026, 3, 1, 12, 0))
