"""Properties of ``route`` over random snapshots and requests: it never picks an account that cannot take
the payment, uses backups only when no primary can, follows the weights exactly along a grid of picks,
explains every account it did not pick, is deterministic and ignores the snapshot's order, and never
moves a payment whose outcome is unknown."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from indiepay.routing import rules
from indiepay.routing.rules import AccountSnapshot, PreviousAttempt, RouteDecision, RouteRequest, route
from tests.routing.strategies import can_take, picks, requests, snapshots

EXAMPLES = settings(max_examples=300, deadline=None)
PINNING = settings(max_examples=200, deadline=None)


def _one_of(snapshot: list[AccountSnapshot], which: int) -> str:
    """An account of the snapshot, or one no longer in it."""
    ids = [account.id for account in snapshot] + ["acct_gone"]
    return ids[which % len(ids)]


def _by_id(snapshot: list[AccountSnapshot]) -> dict[str, AccountSnapshot]:
    return {account.id: account for account in snapshot}


@EXAMPLES
@given(snapshots(), requests(), picks, st.randoms(use_true_random=False))
def test_routing_invariants(snapshot: list[AccountSnapshot], req: RouteRequest, pick: float,
                            rnd: random.Random) -> None:
    # one generated case checks every invariant: generating snapshots is the expensive part
    decision = route(snapshot, req, pick=pick)
    _picks_only_an_account_that_can_take_it(snapshot, req, decision)
    _backups_only_when_no_primary_can(snapshot, req, decision)
    _every_other_account_has_a_reason(snapshot, req, decision)
    shuffled = list(snapshot)
    rnd.shuffle(shuffled)
    assert route(shuffled, req, pick=pick) == route(snapshot, req, pick=pick) == decision


def _picks_only_an_account_that_can_take_it(snapshot: list[AccountSnapshot], req: RouteRequest,
                                            decision: RouteDecision) -> None:
    if decision.account_id is None:
        assert not any(can_take(account, req) for account in snapshot)
        return
    chosen = _by_id(snapshot)[decision.account_id]
    assert can_take(chosen, req)  # enabled, healthy, right environment/channel/method, weight > 0, under cap
    assert chosen.weight > 0 and chosen.health != "open"
    assert chosen.daily_cap is None or chosen.used_today + req.amount <= chosen.daily_cap
    assert decision.role == chosen.role
    assert decision.probe == (chosen.health == "half_open")


def _backups_only_when_no_primary_can(snapshot: list[AccountSnapshot], req: RouteRequest,
                                      decision: RouteDecision) -> None:
    if any(can_take(a, req) for a in snapshot if a.role == "primary"):
        assert decision.role == "primary"
    elif any(can_take(a, req) for a in snapshot):
        assert decision.role == "backup"


def _every_other_account_has_a_reason(snapshot: list[AccountSnapshot], req: RouteRequest,
                                      decision: RouteDecision) -> None:
    assert set(decision.reasons) == {a.id for a in snapshot} - {decision.account_id}
    for account_id, reason in decision.reasons.items():
        account = _by_id(snapshot)[account_id]
        assert (reason in (rules.NOT_PICKED, rules.BACKUP_STANDBY)) == can_take(account, req)
        if reason == rules.BACKUP_STANDBY:
            assert account.role == "backup" and decision.role == "primary"
        if reason == rules.OVER_DAILY_CAP:
            assert account.daily_cap is not None
            usage = decision.caps[account_id]
            assert usage.remaining == max(account.daily_cap - account.used_today, 0) < req.amount
            assert (usage.daily_cap, usage.used_today) == (account.daily_cap, account.used_today)
    assert set(decision.caps) == {i for i, r in decision.reasons.items() if r == rules.OVER_DAILY_CAP}
    if decision.account_id is None:
        assert decision.refusal in (*decision.reasons.values(), rules.NO_ACCOUNT)
        assert (decision.refusal == rules.NO_ACCOUNT) == (snapshot == [])
    else:
        assert decision.refusal is None


@settings(max_examples=150, deadline=None)
@given(snapshots(), requests(), st.integers(2, 10))
def test_weights_are_followed_exactly_along_a_grid_of_picks(snapshot: list[AccountSnapshot], req: RouteRequest,
                                                            bits: int) -> None:
    # picks k / 2^bits are exact floats; account i must take ⌈Cᵢ·N/W⌉ − ⌈Cᵢ₋₁·N/W⌉ of them, i.e. its share
    # N·wᵢ/W to within one grid step — and exactly that share when W divides N.
    grid = 2 ** bits
    counts = Counter(route(snapshot, req, pick=k / grid).account_id for k in range(grid))
    primaries = [a for a in snapshot if a.role == "primary" and can_take(a, req)]
    tier = primaries or [a for a in snapshot if can_take(a, req)]
    if not tier:
        assert counts == Counter({None: grid})
        return
    total = sum(a.weight for a in tier)
    cumulative = 0
    for account in sorted(tier, key=lambda a: a.id):
        start, cumulative = cumulative, cumulative + account.weight
        expected = -(-cumulative * grid // total) - -(-start * grid // total)
        assert counts[account.id] == expected
        assert abs(counts[account.id] * total - grid * account.weight) < total
        if grid % total == 0:
            assert counts[account.id] * total == grid * account.weight
    assert sum(counts.values()) == grid and set(counts) <= {a.id for a in tier}


@PINNING
@given(snapshots(), requests(), picks, st.integers(0, 8), st.sampled_from(("unknown", "ok")))
def test_unknown_outcome_never_moves_to_another_account(snapshot: list[AccountSnapshot], req: RouteRequest,
                                                        pick: float, which: int, outcome: str) -> None:
    previous_id = _one_of(snapshot, which)
    decision = route(snapshot, req, pick=pick, previous_attempt=PreviousAttempt(previous_id, outcome))
    assert decision.account_id in (previous_id, None)
    code = (rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT if outcome == "unknown"
            else rules.ORDER_OPEN_ON_PREVIOUS_ACCOUNT)
    assert all(reason == code for account_id, reason in decision.reasons.items() if account_id != previous_id)
    if decision.account_id is None:
        assert decision.refusal == code


@PINNING
@given(snapshots(), requests(), picks, st.integers(0, 8), st.sampled_from(("rejected", "retryable")))
def test_after_a_definite_failure_another_account_may_take_it(snapshot: list[AccountSnapshot], req: RouteRequest,
                                                              pick: float, which: int, outcome: str) -> None:
    previous_id = _one_of(snapshot, which)
    decision = route(snapshot, req, pick=pick, previous_attempt=PreviousAttempt(previous_id, outcome))
    others_able = [a for a in snapshot if a.id != previous_id and can_take(a, req)]
    if others_able:
        assert decision.account_id in {a.id for a in others_able}
    elif outcome == "retryable" and previous_id in _by_id(snapshot) and can_take(_by_id(snapshot)[previous_id], req):
        assert decision.account_id == previous_id
    else:
        assert decision.account_id is None
