"""The risk rules as pure functions: every rule at its threshold, evaluation order, shadow mode, validation,
and properties over generated rule sets (shadow and allow rules never change the outcome)."""

from __future__ import annotations

from dataclasses import asdict, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indiepay.risk.rules import (
    CHECKS,
    RULESET_V1,
    Evaluation,
    Features,
    Rule,
    RuleHit,
    RuleSet,
    all_shadow,
    evaluate,
    needs,
    validate,
)


def payment(**values: Any) -> Features:
    return Features(**{"object_type": "payment", "amount": 100, "subject_type": "enterprise", "account_age_days": 365,
                       **values})


def refund(**values: Any) -> Features:
    return Features(**{"object_type": "refund", "amount": 100, "account_age_days": 365, **values})


def v1(rule_id: str) -> Rule:
    return next(r for r in RULESET_V1.rules if r.id == rule_id)


HISTORY = {"history_days": 10, "history_count": 14_400}  # one payment a minute, on average
BASELINE = {"history_days": 10, "history_volume": 10_000_000}  # ¥10,000 a day, on average

# (rule, features just short of the threshold, features at it)
BOUNDARIES: list[tuple[str, Features, Features]] = [
    ("large_amount", payment(subject_type="individual", amount=499_999), payment(subject_type="individual",
                                                                                amount=500_000)),
    ("large_amount", payment(amount=4_999_999), payment(amount=5_000_000)),
    ("daily_cap_80", payment(used_today=7_000, amount=999, daily_limit=10_000),
     payment(used_today=7_000, amount=1_000, daily_limit=10_000)),
    ("payer_velocity_openid", payment(payer_payments={("openid", 10): 4}),
     payment(payer_payments={("openid", 10): 5})),
    ("payer_velocity_buyer_id", payment(payer_payments={("buyer_id", 10): 4}),
     payment(payer_payments={("buyer_id", 10): 5})),
    ("repeated_failures_buyer_id", payment(payer_failures={("buyer_id", 60): 4}),
     payment(payer_failures={("buyer_id", 60): 5})),
    ("payer_velocity_client_ip", payment(payer_payments={("client_ip", 10): 19}),
     payment(payer_payments={("client_ip", 10): 20})),
    ("repeated_failures_openid", payment(payer_failures={("openid", 60): 4}),
     payment(payer_failures={("openid", 60): 5})),
    ("repeated_failures_client_ip", payment(payer_failures={("client_ip", 60): 9}),
     payment(payer_failures={("client_ip", 60): 10})),
    # 30 a minute against a usual 1: the minimum of 30 is what stops it
    ("merchant_velocity", payment(merchant_payments={1: 28}, **HISTORY), payment(merchant_payments={1: 29}, **HISTORY)),
    # no history: the minimum alone
    ("merchant_velocity", payment(merchant_payments={1: 28}), payment(merchant_payments={1: 29})),
    ("volume_above_baseline", payment(used_today=4_000_000, amount=1_000_000, **BASELINE),
     payment(used_today=4_000_000, amount=1_000_001, **BASELINE)),
    ("volume_above_baseline", payment(used_today=0, amount=999_999), payment(used_today=0, amount=1_000_000)),
    ("new_account_large_payment", payment(account_age_days=14, amount=200_000),
     payment(account_age_days=13, amount=200_000)),
    ("new_account_large_payment", payment(account_age_days=0, amount=199_999),
     payment(account_age_days=0, amount=200_000)),
    ("refund_rate_7d", refund(window_refunds=2, window_refunded=2_000, window_paid=10_000, amount=1_000),
     refund(window_refunds=2, window_refunded=2_000, window_paid=10_000, amount=1_001)),
    ("refund_rate_7d", refund(window_refunds=1, window_refunded=9_000, window_paid=10_000, amount=9_000),
     refund(window_refunds=2, window_refunded=9_000, window_paid=10_000, amount=9_000)),
]


@pytest.mark.parametrize(("rule_id", "below", "at"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES])
def test_each_v1_rule_fires_exactly_at_its_threshold(rule_id: str, below: Features, at: Features) -> None:
    rule = v1(rule_id)
    assert evaluate([rule], below) == Evaluation("allow")
    fired = evaluate([rule], at)
    assert fired.outcome == rule.outcome and fired.shadow_outcome == rule.outcome
    assert [(h.rule_id, h.version, h.shadow) for h in fired.hits] == [(rule_id, 1, False)]
    assert fired.decisive == fired.hits[0] and fired.hits[0].reason


def test_merchant_velocity_compares_with_the_usual_rate() -> None:
    rule = replace(v1("merchant_velocity"), params={"window_minutes": 1, "factor": 10, "min_payments": 5})
    assert evaluate([rule], payment(merchant_payments={1: 9}, **HISTORY)).outcome == "allow"  # 10 = 10 × 1
    assert evaluate([rule], payment(merchant_payments={1: 10}, **HISTORY)).outcome == "review"  # 11 > 10 × 1


def test_rules_without_their_measure_do_not_fire() -> None:
    # no openid / client_ip on the request: nothing was counted for it
    assert evaluate(RULESET_V1.rules, payment()).outcome == "allow"
    assert evaluate([v1("daily_cap_80")], payment(amount=10**9, daily_limit=0)).hits == ()
    assert evaluate([v1("large_amount")], payment(subject_type="other", amount=10**9)).hits == ()


def test_rules_apply_to_their_object_type_only() -> None:
    huge = {"amount": 10**9, "account_age_days": 0, "window_refunds": 10, "window_refunded": 10**9}
    assert [h.rule_id for h in evaluate(RULESET_V1.rules, refund(**huge)).hits] == ["refund_rate_7d"]
    assert "refund_rate_7d" not in [h.rule_id for h in evaluate(RULESET_V1.rules, payment(**huge)).hits]
    both = replace(v1("large_amount"), applies_to="both")
    assert evaluate([both], refund(amount=5_000_000, subject_type="enterprise")).outcome == "review"


def rule(rule_id: str, outcome: str, *, shadow: bool = False, fires: bool = True) -> Rule:
    """A new-account rule that fires (or not) on ``payment()``."""
    return Rule(rule_id, 1, "new_account", {"max_age_days": 1000 if fires else 0, "min_amount": 0},
                outcome, shadow)  # type: ignore[arg-type]


def test_the_first_block_wins_and_every_hit_is_reported_in_order() -> None:
    result = evaluate([rule("a", "review"), rule("b", "allow"), rule("c", "block"), rule("d", "block"),
                       rule("e", "review", fires=False)], payment())
    assert result.outcome == "block" and result.decisive is not None and result.decisive.rule_id == "c"
    assert [(h.rule_id, h.outcome) for h in result.hits] == [("a", "review"), ("b", "allow"), ("c", "block"),
                                                              ("d", "block")]
    review = evaluate([rule("a", "allow"), rule("b", "review"), rule("c", "review")], payment())
    assert review.outcome == "review" and review.decisive is not None and review.decisive.rule_id == "b"
    allowed = evaluate([rule("a", "allow")], payment())
    assert allowed.outcome == "allow" and allowed.decisive is None and len(allowed.hits) == 1


def test_shadow_rules_are_reported_but_change_nothing() -> None:
    result = evaluate([rule("watch", "block", shadow=True), rule("real", "review")], payment())
    assert result.outcome == "review" and result.shadow_outcome == "block"
    assert result.hits == (RuleHit("watch", 1, "block", True, result.hits[0].reason),
                           RuleHit("real", 1, "review", False, result.hits[1].reason))
    assert result.decisive is not None and result.decisive.rule_id == "real"
    shadow_only = evaluate([rule("watch", "block", shadow=True)], payment())
    assert shadow_only.outcome == "allow" and shadow_only.shadow_outcome == "block" and shadow_only.decisive is None


def test_all_shadow_keeps_the_version_and_the_rules() -> None:
    shadowed = all_shadow(RULESET_V1)
    assert shadowed.version == RULESET_V1.version == "v1"
    assert [replace(r, shadow=False) for r in shadowed.rules] == list(RULESET_V1.rules)
    assert all(r.shadow for r in shadowed.rules) and not any(r.shadow for r in RULESET_V1.rules)
    blocked = payment(payer_payments={("openid", 10): 50}, amount=10**8, account_age_days=0)
    assert evaluate(RULESET_V1.rules, blocked).outcome == "block"
    result = evaluate(shadowed.rules, blocked)
    assert result.outcome == "allow" and result.shadow_outcome == "block" and len(result.hits) >= 3


def test_v1_holds_every_rule_of_the_issue_blocks_first() -> None:
    assert {r.kind for r in RULESET_V1.rules} == set(CHECKS)
    outcomes = [r.outcome for r in RULESET_V1.rules]
    assert outcomes == sorted(outcomes, key=lambda o: o != "block")


@pytest.mark.parametrize(("rules", "message"), [
    ((rule("a", "block"), rule("a", "review")), "appears twice"),
    ((Rule("a", 1, "telepathy", {}, "block"),), "unknown kind"),
    ((Rule("a", 1, "daily_cap", {}, "block"),), "params must be"),
    ((Rule("a", 1, "daily_cap", {"pct": 80, "extra": 1}, "block"),), "params must be"),
    ((Rule("a", 1, "daily_cap", {"pct": "80"}, "block"),), "non-negative integer"),
    ((Rule("a", 1, "daily_cap", {"pct": True}, "block"),), "non-negative integer"),
    ((Rule("a", 1, "daily_cap", {"pct": -1}, "block"),), "non-negative integer"),
    ((Rule("a", 1, "payer_velocity", {"by": "email", "window_minutes": 1, "max_payments": 1}, "block"),), "'by'"),
    ((Rule("a", 1, "daily_cap", {"pct": 80}, "deny"),), "bad outcome"),  # type: ignore[arg-type]
])
def test_a_rule_set_a_check_cannot_run_is_refused(rules: tuple[Rule, ...], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate(rules)
    with pytest.raises(ValueError, match=message):
        RuleSet("bad", rules)


def test_needs_names_exactly_the_windows_the_rules_read() -> None:
    paying = needs(RULESET_V1.rules, "payment")
    assert paying.payer_payments == {("openid", 10), ("buyer_id", 10), ("client_ip", 10)}
    assert paying.payer_failures == {("openid", 60), ("buyer_id", 60), ("client_ip", 60)}
    assert paying.merchant_payments == {1} and paying.history and not paying.refund_window
    refunding = needs(RULESET_V1.rules, "refund")
    assert refunding.refund_window and not refunding.history and not refunding.payer_payments


# -- properties over generated rule sets ------------------------------------------------------------------

WINDOWS = (1, 10, 60)
BY = ("openid", "buyer_id", "client_ip")
small = st.integers(min_value=0, max_value=40)
PARAMS: dict[str, Any] = {
    "large_amount": st.fixed_dictionaries({"individual": st.integers(0, 2_000), "enterprise": st.integers(0, 2_000)}),
    "daily_cap": st.fixed_dictionaries({"pct": st.integers(0, 120)}),
    "payer_velocity": st.fixed_dictionaries({"by": st.sampled_from(BY), "window_minutes": st.sampled_from(WINDOWS),
                                             "max_payments": small}),
    "repeated_failures": st.fixed_dictionaries({"by": st.sampled_from(BY), "window_minutes": st.sampled_from(WINDOWS),
                                                "max_failures": small}),
    "merchant_velocity": st.fixed_dictionaries({"window_minutes": st.sampled_from(WINDOWS), "factor": small,
                                                "min_payments": small}),
    "volume_baseline": st.fixed_dictionaries({"factor": small, "min_volume": st.integers(0, 5_000)}),
    "new_account": st.fixed_dictionaries({"max_age_days": small, "min_amount": st.integers(0, 2_000)}),
    "refund_rate": st.fixed_dictionaries({"max_pct": st.integers(0, 150), "min_refunds": small}),
}


@st.composite
def rules_st(draw: st.DrawFn, max_size: int = 8) -> list[Rule]:
    drawn = []
    for i in range(draw(st.integers(0, max_size))):
        kind = draw(st.sampled_from(sorted(PARAMS)))
        drawn.append(Rule(f"r{i}", draw(st.integers(1, 3)), kind, draw(PARAMS[kind]),
                          draw(st.sampled_from(["allow", "review", "block"])), draw(st.booleans()),
                          draw(st.sampled_from(["payment", "refund", "both"]))))
    return drawn


counts = st.dictionaries(st.tuples(st.sampled_from(BY), st.sampled_from(WINDOWS)), small, max_size=6)
features_st = st.builds(
    Features, object_type=st.sampled_from(["payment", "refund"]), amount=st.integers(1, 3_000),
    subject_type=st.sampled_from(["individual", "enterprise"]), account_age_days=small,
    used_today=st.integers(0, 5_000), daily_limit=st.integers(0, 8_000), payer_payments=counts, payer_failures=counts,
    merchant_payments=st.dictionaries(st.sampled_from(WINDOWS), small), history_days=st.integers(0, 30),
    history_volume=st.integers(0, 50_000), history_count=st.integers(0, 500), window_refunds=small,
    window_refunded=st.integers(0, 5_000), window_paid=st.integers(0, 10_000))


@settings(max_examples=400, deadline=None)
@given(rules=rules_st(), extra=rules_st(max_size=4), features=features_st, data=st.data())
def test_shadow_rules_never_change_the_outcome(rules: list[Rule], extra: list[Rule], features: Features,
                                               data: st.DataObject) -> None:
    base = evaluate(rules, features)
    mixed = list(rules)
    for i, shadow in enumerate(extra):  # shadow rules anywhere in the order
        mixed.insert(data.draw(st.integers(0, len(mixed))), replace(shadow, id=f"s{i}", shadow=True))
    result = evaluate(mixed, features)
    assert result.outcome == base.outcome and result.decisive == base.decisive
    assert [h for h in result.hits if not h.shadow] == [h for h in base.hits if not h.shadow]
    assert evaluate([replace(r, shadow=True) for r in rules], features).outcome == "allow"
    assert evaluate(all_shadow(RuleSet("p", tuple(rules))).rules, features).shadow_outcome == evaluate(
        [replace(r, shadow=False) for r in rules], features).outcome


@settings(max_examples=400, deadline=None)
@given(rules=rules_st(), extra=rules_st(max_size=4), features=features_st, data=st.data())
def test_adding_an_allow_rule_never_changes_the_outcome(rules: list[Rule], extra: list[Rule], features: Features,
                                                        data: st.DataObject) -> None:
    base = evaluate(rules, features)
    mixed = list(rules)
    for i, allow in enumerate(extra):
        mixed.insert(data.draw(st.integers(0, len(mixed))), replace(allow, id=f"a{i}", outcome="allow"))
    result = evaluate(mixed, features)
    assert (result.outcome, result.shadow_outcome, result.decisive) == (base.outcome, base.shadow_outcome,
                                                                        base.decisive)


@settings(max_examples=400, deadline=None)
@given(rules=rules_st(), features=features_st)
def test_the_outcome_is_the_strictest_non_shadow_hit(rules: list[Rule], features: Features) -> None:
    result = evaluate(rules, features)
    acting = [h for h in result.hits if not h.shadow]
    blocks = [h for h in acting if h.outcome == "block"]
    if blocks:
        assert result.outcome == "block" and result.decisive == blocks[0]
    elif any(h.outcome == "review" for h in acting):
        assert result.outcome == "review"
    else:
        assert result.outcome == "allow" and result.decisive is None
    severity = {"allow": 0, "review": 1, "block": 2}
    assert severity[result.shadow_outcome] >= severity[result.outcome]
    assert [h.rule_id for h in result.hits] == [r.id for r in rules if r.id in {h.rule_id for h in result.hits}]
    assert all(r.applies(features.object_type) for r in rules if r.id in {h.rule_id for h in result.hits})


def test_a_hit_is_stored_with_the_fields_of_its_dataclass() -> None:
    hit = RuleHit("large_amount", 3, "review", False, "amount 600000 fen is at least 500000 fen")
    assert hit.as_record() == asdict(hit)


def test_a_rule_set_knows_what_it_measures_for_each_object_type() -> None:
    assert RULESET_V1.needs("payment") == needs(RULESET_V1.rules, "payment")
    assert RULESET_V1.needs("refund") == needs(RULESET_V1.rules, "refund")
    assert RULESET_V1.needs("refund").refund_window and not RULESET_V1.needs("payment").refund_window
