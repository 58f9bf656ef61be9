"""The in-memory registry: per-account states under an injected clock, and no lost update when many threads
record outcomes and claim probe slots at once."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from indiepay.core.clock import FixedClock
from indiepay.routing.health import CLOSED, BreakerConfig, HealthRegistry

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def run_together(threads: int, work: Callable[[int], None]) -> None:
    """Start ``threads`` threads that begin ``work(number)`` at the same moment; re-raise any failure.

    The interpreter switches threads every microsecond meanwhile, so a missing lock loses updates at once
    (checked by running these tests against a registry without its lock)."""
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def body(number: int) -> None:
        try:
            barrier.wait()
            work(number)
        except BaseException as exc:  # collected, re-raised in the main thread
            errors.append(exc)

    workers = [threading.Thread(target=body, args=(number,)) for number in range(threads)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=30)
    finally:
        sys.setswitchinterval(interval)
    assert not errors, errors


def test_unknown_accounts_are_closed_and_states_are_per_account() -> None:
    clock = FixedClock(T0)
    registry = HealthRegistry(clock, BreakerConfig(consecutive_failures=2))
    assert registry.state("acct_new") == CLOSED and registry.availability("acct_new") == "closed"
    registry.record("acct_a", "unknown")
    registry.record("acct_a", "retryable")
    assert registry.availabilities(["acct_a", "acct_b"]) == {"acct_a": "open", "acct_b": "closed"}
    assert registry.admit("acct_a") is False and registry.admit("acct_b") is True


def test_the_registry_follows_its_clock_through_a_recovery() -> None:
    clock = FixedClock(T0)
    registry = HealthRegistry(clock, BreakerConfig(consecutive_failures=1, cool_down=timedelta(seconds=30)))
    registry.record("acct_a", "unknown")
    clock.advance(timedelta(seconds=29))
    assert registry.availability("acct_a") == "open"
    clock.advance(timedelta(seconds=1))
    assert registry.state("acct_a").status == "half_open"
    assert registry.admit("acct_a") is True
    assert registry.availability("acct_a") == "open"  # the one probe slot is taken
    assert registry.record("acct_a", "ok") == CLOSED
    assert registry.availability("acct_a") == "closed"


def test_forget_closes_an_account() -> None:
    registry = HealthRegistry(FixedClock(T0), BreakerConfig(consecutive_failures=1))
    registry.record("acct_a", "retryable")
    registry.forget("acct_a")
    assert registry.state("acct_a") == CLOSED


def test_concurrent_failures_are_all_counted() -> None:
    registry = HealthRegistry(FixedClock(T0), BreakerConfig(consecutive_failures=10_000, min_calls=10_000))

    def fail_many(_: int) -> None:
        for _ in range(250):
            registry.record("acct_a", "retryable")

    run_together(8, fail_many)
    state = registry.state("acct_a")
    assert state.status == "closed"
    assert state.consecutive_failures == 2_000 and state.failures_in_window == 2_000


def test_concurrent_failures_open_the_breaker_once() -> None:
    clock = FixedClock(T0)
    registry = HealthRegistry(clock, BreakerConfig(consecutive_failures=5))

    def fail_ten(_: int) -> None:
        for _ in range(10):
            registry.record("acct_a", "unknown")

    run_together(16, fail_ten)
    state = registry.state("acct_a")
    assert state.status == "open" and state.trips == 1 and state.opened_at == T0


def test_concurrent_probes_never_exceed_the_limit() -> None:
    clock = FixedClock(T0)
    registry = HealthRegistry(clock, BreakerConfig(consecutive_failures=1, half_open_probes=3))
    registry.record("acct_a", "unknown")
    clock.advance(timedelta(seconds=30))
    admitted: list[bool] = []
    lock = threading.Lock()

    def try_probes(_: int) -> None:
        answers = [registry.admit("acct_a") for _ in range(20)]
        with lock:
            admitted.extend(answers)

    run_together(24, try_probes)
    assert admitted.count(True) == 3 and len(admitted) == 480


def test_many_accounts_many_threads_readers_and_writers() -> None:
    registry = HealthRegistry(FixedClock(T0), BreakerConfig(consecutive_failures=10_000, min_calls=10_000))
    accounts = [f"acct_{number}" for number in range(4)]

    def work(number: int) -> None:
        if number % 2:
            for _ in range(100):
                assert set(registry.availabilities(accounts).values()) == {"closed"}
        else:
            for round_ in range(200):
                registry.record(accounts[round_ % 4], "ok" if round_ % 3 else "rejected")

    run_together(8, work)
    assert sum(registry.state(account).calls_in_window for account in accounts) == 4 * 200
