"""Table-driven cases of ``route``: caps (at the cap, one fen over, all capped with what remains), backups
taking over, breakers, drained accounts, the refusal summary, pinning after an unknown outcome, failing over
after a definite failure, validation, and the issue's 10,000-payment weight check."""

from __future__ import annotations

import math
import random
from collections import Counter

import pytest

from indiepay.routing import rules
from indiepay.routing.rules import CapUsage, PreviousAttempt, RouteRequest, route
from tests.routing.strategies import account, request


def test_the_only_primary_takes_it() -> None:
    decision = route([account("acct_a")], request(), pick=0.5)
    assert (decision.account_id, decision.role, decision.probe, decision.refusal) == ("acct_a", "primary", False, None)
    assert decision.reasons == {} and decision.caps == {} and decision.max_remaining is None


@pytest.mark.parametrize(("pick", "chosen"), [(0.0, "acct_a"), (0.25, "acct_a"), (0.5, "acct_a"),
                                              (0.74999, "acct_a"), (0.75, "acct_b"), (0.99999, "acct_b")])
def test_pick_walks_the_cumulative_weights_in_id_order(pick: float, chosen: str) -> None:
    snapshot = [account("acct_b", weight=1), account("acct_a", weight=3), account("acct_c", role="backup")]
    decision = route(snapshot, request(), pick=pick)
    assert decision.account_id == chosen
    other = "acct_b" if chosen == "acct_a" else "acct_a"
    assert decision.reasons == {other: rules.NOT_PICKED, "acct_c": rules.BACKUP_STANDBY}


@pytest.mark.parametrize(("used", "amount", "takes"), [(900, 100, True), (901, 100, False), (0, 1000, True),
                                                       (0, 1001, False), (1000, 1, False)])
def test_daily_cap_boundary(used: int, amount: int, takes: bool) -> None:
    decision = route([account("acct_a", daily_cap=1000, used_today=used)], request(amount), pick=0.0)
    assert (decision.account_id == "acct_a") is takes
    if not takes:
        assert decision.refusal == rules.OVER_DAILY_CAP
        assert decision.caps == {"acct_a": CapUsage(1000, used, 1000 - used)}


def test_all_primaries_over_cap_go_to_the_backup() -> None:
    snapshot = [account("acct_a", daily_cap=500, used_today=450), account("acct_b", daily_cap=800, used_today=800),
                account("acct_z", role="backup", daily_cap=10_000, used_today=0)]
    decision = route(snapshot, request(100), pick=0.3)
    assert (decision.account_id, decision.role) == ("acct_z", "backup")
    assert decision.reasons == {"acct_a": rules.OVER_DAILY_CAP, "acct_b": rules.OVER_DAILY_CAP}
    assert decision.caps == {"acct_a": CapUsage(500, 450, 50), "acct_b": CapUsage(800, 800, 0)}


def test_all_capped_refuses_with_reasons_and_what_remains() -> None:
    snapshot = [account("acct_a", daily_cap=500, used_today=450),
                account("acct_b", role="backup", daily_cap=300, used_today=120),
                account("acct_c", environment="sandbox")]
    decision = route(snapshot, request(200), pick=0.0)
    assert decision.account_id is None and decision.role is None
    assert decision.refusal == rules.OVER_DAILY_CAP  # the furthest any account got
    assert decision.reasons == {"acct_a": rules.OVER_DAILY_CAP, "acct_b": rules.OVER_DAILY_CAP,
                                "acct_c": rules.WRONG_ENVIRONMENT}
    assert decision.caps == {"acct_a": CapUsage(500, 450, 50), "acct_b": CapUsage(300, 120, 180)}
    assert decision.max_remaining == 180  # a payment of ¥1.80 would still go through


def test_an_over_used_account_reports_nothing_remaining() -> None:
    decision = route([account("acct_a", daily_cap=100, used_today=130)], request(1), pick=0.0)
    assert decision.caps["acct_a"].remaining == 0


@pytest.mark.parametrize(("fields", "reason"), [
    ({"environment": "sandbox"}, rules.WRONG_ENVIRONMENT),
    ({"channel": "alipay", "methods": frozenset({"alipay_qr"})}, rules.WRONG_CHANNEL),
    ({"channel": "alipay", "methods": frozenset({"wechat_native"})}, rules.WRONG_CHANNEL),
    ({"methods": frozenset({"wechat_jsapi", "wechat_h5"})}, rules.METHOD_NOT_SERVED),
    ({"methods": frozenset()}, rules.METHOD_NOT_SERVED),
    ({"enabled": False}, rules.DISABLED),
    ({"health": "open"}, rules.CIRCUIT_OPEN),
    ({"weight": 0}, rules.ZERO_WEIGHT),
    ({"daily_cap": 50}, rules.OVER_DAILY_CAP),
    ({"environment": "sandbox", "enabled": False, "health": "open"}, rules.WRONG_ENVIRONMENT),  # first rule wins
    ({"enabled": False, "daily_cap": 0}, rules.DISABLED),
])
def test_each_rule_refuses_with_its_reason(fields: dict[str, object], reason: str) -> None:
    decision = route([account("acct_a", **fields)], request(100), pick=0.0)
    assert decision.account_id is None
    assert decision.reasons == {"acct_a": reason} and decision.refusal == reason


def test_refusal_is_the_reason_of_the_account_that_got_furthest() -> None:
    snapshot = [account("acct_a", environment="sandbox"), account("acct_b", enabled=False),
                account("acct_c", health="open"), account("acct_d", methods=frozenset({"wechat_h5"}))]
    assert route(snapshot, request(), pick=0.0).refusal == rules.CIRCUIT_OPEN
    assert route([], request(), pick=0.0).refusal == rules.NO_ACCOUNT


def test_an_open_primary_is_skipped_and_a_half_open_one_takes_a_probe() -> None:
    backup = account("acct_z", role="backup")
    decision = route([account("acct_a", health="open"), backup], request(), pick=0.0)
    assert (decision.account_id, decision.probe) == ("acct_z", False)
    decision = route([account("acct_a", health="half_open"), backup], request(), pick=0.0)
    assert (decision.account_id, decision.role, decision.probe) == ("acct_a", "primary", True)


def test_a_drained_primary_leaves_the_payment_to_the_others() -> None:
    snapshot = [account("acct_a", weight=0), account("acct_z", role="backup", weight=2)]
    assert route(snapshot, request(), pick=0.0).account_id == "acct_z"
    decision = route([account("acct_a", weight=0), account("acct_z", role="backup", weight=0)], request(), pick=0.0)
    assert decision.account_id is None and decision.refusal == rules.ZERO_WEIGHT


def test_backups_share_by_weight_too() -> None:
    snapshot = [account("acct_a", health="open"), account("acct_x", role="backup", weight=1),
                account("acct_y", role="backup", weight=1)]
    assert [route(snapshot, request(), pick=p).account_id for p in (0.0, 0.49, 0.5, 0.9)] == \
        ["acct_x", "acct_x", "acct_y", "acct_y"]
    assert route(snapshot, request(), pick=0.0).reasons == {"acct_a": rules.CIRCUIT_OPEN, "acct_y": rules.NOT_PICKED}


# --- pinning after an unknown outcome (and after ok) ---------------------------------------------------------

@pytest.mark.parametrize("fields", [{}, {"daily_cap": 100, "used_today": 100}, {"weight": 0}, {"role": "backup"},
                                    {"health": "half_open"}])
def test_unknown_outcome_stays_on_its_account(fields: dict[str, object]) -> None:
    snapshot = [account("acct_a", **fields), account("acct_b", weight=100)]
    decision = route(snapshot, request(100), pick=0.99, previous_attempt=PreviousAttempt("acct_a", "unknown"))
    assert decision.account_id == "acct_a"
    assert decision.reasons == {"acct_b": rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT}
    assert decision.probe == (fields.get("health") == "half_open")


@pytest.mark.parametrize(("fields", "own_reason"), [({"health": "open"}, rules.CIRCUIT_OPEN),
                                                    ({"enabled": False}, rules.DISABLED),
                                                    ({"environment": "sandbox"}, rules.WRONG_ENVIRONMENT)])
def test_unknown_outcome_on_an_unusable_account_routes_nowhere(fields: dict[str, object], own_reason: str) -> None:
    snapshot = [account("acct_a", **fields), account("acct_b"), account("acct_z", role="backup")]
    decision = route(snapshot, request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", "unknown"))
    assert decision.account_id is None and decision.refusal == rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT
    assert decision.reasons == {"acct_a": own_reason, "acct_b": rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT,
                                "acct_z": rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT}


def test_unknown_outcome_on_an_account_no_longer_listed_routes_nowhere() -> None:
    decision = route([account("acct_b")], request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", "unknown"))
    assert decision.account_id is None and decision.refusal == rules.OUTCOME_UNKNOWN_ON_PREVIOUS_ACCOUNT


def test_an_open_order_stays_on_its_account() -> None:
    snapshot = [account("acct_a"), account("acct_b", weight=9)]
    decision = route(snapshot, request(), pick=0.99, previous_attempt=PreviousAttempt("acct_a", "ok"))
    assert decision.account_id == "acct_a" and decision.reasons == {"acct_b": rules.ORDER_OPEN_ON_PREVIOUS_ACCOUNT}


# --- failing over after a definite failure -------------------------------------------------------------------

@pytest.mark.parametrize("outcome", ["rejected", "retryable"])
def test_a_definite_failure_moves_to_another_account(outcome: str) -> None:
    snapshot = [account("acct_a", weight=100), account("acct_b", weight=1)]
    decision = route(snapshot, request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", outcome))
    assert decision.account_id == "acct_b" and decision.reasons == {"acct_a": rules.FAILED_ON_PREVIOUS_ATTEMPT}


def test_a_backup_takes_over_after_a_retryable_failure_of_the_only_primary() -> None:
    snapshot = [account("acct_a"), account("acct_z", role="backup")]
    decision = route(snapshot, request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", "retryable"))
    assert (decision.account_id, decision.role) == ("acct_z", "backup")


def test_a_retryable_failure_is_retried_on_the_same_account_when_nothing_else_can() -> None:
    snapshot = [account("acct_a"), account("acct_b", health="open")]
    decision = route(snapshot, request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", "retryable"))
    assert decision.account_id == "acct_a" and decision.reasons == {"acct_b": rules.CIRCUIT_OPEN}


def test_a_rejection_is_never_retried_on_the_same_account() -> None:
    snapshot = [account("acct_a"), account("acct_b", health="open")]
    decision = route(snapshot, request(), pick=0.0, previous_attempt=PreviousAttempt("acct_a", "rejected"))
    assert decision.account_id is None and decision.refusal == rules.FAILED_ON_PREVIOUS_ATTEMPT


# --- validation ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("pick", [-0.1, 1.0, 1.5, math.nan, math.inf])
def test_pick_must_lie_in_the_unit_interval(pick: float) -> None:
    with pytest.raises(ValueError, match="pick"):
        route([account("acct_a")], request(), pick=pick)


def test_invalid_input_is_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        route([account("acct_a"), account("acct_a")], request(), pick=0.0)
    for fields in ({"weight": -1}, {"used_today": -1}, {"daily_cap": -1}, {"role": "spare"}, {"health": "dead"}):
        with pytest.raises(ValueError):
            account("acct_a", **fields)
    with pytest.raises(ValueError, match="1 fen"):
        RouteRequest(channel="wechatpay", environment="production", method="wechat_native", amount=0)
    with pytest.raises(ValueError, match="outcome"):
        PreviousAttempt("acct_a", "timeout")


def test_ten_thousand_random_payments_follow_the_weights_within_two_percent() -> None:
    weights = {"acct_a": 5, "acct_b": 3, "acct_c": 2}
    snapshot = [account(account_id, weight=weight) for account_id, weight in weights.items()]
    rng = random.Random(20_240_501)
    counts = Counter(route(snapshot, request(), pick=rng.random()).account_id for _ in range(10_000))
    for account_id, weight in weights.items():
        assert abs(counts[account_id] / 10_000 - weight / 10) < 0.02
