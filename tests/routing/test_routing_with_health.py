"""Routing fed by the breakers, with a fake clock: a failing primary is skipped for the backup, half-opens
after the cool-down, takes one probe, and takes its traffic back once the probe succeeds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from indiepay.core.clock import FixedClock
from indiepay.routing import rules
from indiepay.routing.health import HealthRegistry
from indiepay.routing.rules import AccountSnapshot, RouteDecision, route
from tests.routing.strategies import account, request

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def snapshot_of(registry: HealthRegistry, accounts: list[AccountSnapshot]) -> list[AccountSnapshot]:
    health = registry.availabilities(a.id for a in accounts)
    return [AccountSnapshot(**{**vars(a), "health": health[a.id]}) for a in accounts]


def place(registry: HealthRegistry, accounts: list[AccountSnapshot]) -> RouteDecision:
    """What the payment service will do: route, claim the probe slot when half open, else route again."""
    decision = route(snapshot_of(registry, accounts), request(), pick=0.0)
    if decision.account_id is not None and not registry.admit(decision.account_id):
        decision = route(snapshot_of(registry, accounts), request(), pick=0.0)
    return decision


def test_backup_takes_over_and_the_primary_resumes_after_recovery() -> None:
    clock = FixedClock(T0)
    registry = HealthRegistry(clock)  # documented defaults: 5 failures in a row, 30 s cool-down, 1 probe
    accounts = [account("acct_primary"), account("acct_backup", role="backup")]

    for _ in range(5):
        assert place(registry, accounts).account_id == "acct_primary"
        registry.record("acct_primary", "unknown")
    decision = place(registry, accounts)
    assert decision.account_id == "acct_backup" and decision.reasons == {"acct_primary": rules.CIRCUIT_OPEN}

    clock.advance(timedelta(seconds=30))
    probe = place(registry, accounts)
    assert (probe.account_id, probe.probe) == ("acct_primary", True)
    assert place(registry, accounts).account_id == "acct_backup"  # the probe is in flight: nobody else
    registry.record("acct_primary", "retryable")  # probe failed: open again, for 60 s this time
    clock.advance(timedelta(seconds=59))
    assert place(registry, accounts).account_id == "acct_backup"
    clock.advance(timedelta(seconds=1))
    assert place(registry, accounts).probe is True
    registry.record("acct_primary", "ok")

    for _ in range(3):
        decision = place(registry, accounts)
        assert (decision.account_id, decision.probe) == ("acct_primary", False)
        registry.record("acct_primary", "ok")


def test_business_refusals_never_push_traffic_to_the_backup() -> None:
    registry = HealthRegistry(FixedClock(T0))
    accounts = [account("acct_primary"), account("acct_backup", role="backup")]
    for _ in range(50):
        assert place(registry, accounts).account_id == "acct_primary"
        registry.record("acct_primary", "rejected")
