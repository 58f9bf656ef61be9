"""``PUT /v1/risk/rules`` over real HTTP: the operator puts a new rule set in force; versions are assigned
(unchanged rules keep theirs), the next payment is screened by it, a bad set is refused whole, merchants
cannot change rules, and the change is in the audit log."""

from __future__ import annotations

from typing import Any

from indiepay.risk.rules import RULESET_V1
from tests.support.platform import PlatformUnderTest


def as_items(**overrides: dict[str, Any]) -> list[dict[str, Any]]:
    items = []
    for rule in RULESET_V1.rules:
        item = {"id": rule.id, "kind": rule.kind, "params": dict(rule.params), "outcome": rule.outcome,
                "shadow": rule.shadow, "applies_to": rule.applies_to}
        items.append({**item, **overrides.get(rule.id, {})})
    return items


def test_a_new_rule_set_is_versioned_in_force_and_audited(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    merchant.sandbox_account("wechatpay")
    before = platform.admin.get("/v1/risk/rules").json()
    assert before["version"] == "v1"

    items = as_items(large_amount={"params": {"individual": 500_000, "enterprise": 2_000}, "outcome": "block"})
    items.append({"id": "tiny_review", "kind": "large_amount", "params": {"individual": 1, "enterprise": 1},
                  "outcome": "review", "shadow": True})
    put = platform.admin.put("/v1/risk/rules", json={"rules": items, "note": "block large enterprise payments"})
    assert put.status_code == 200, put.text
    body = put.json()
    versions = {rule["id"]: rule["version"] for rule in body["rules"]}
    assert body["version"] == "v2"
    assert versions["large_amount"] == 2 and versions["tiny_review"] == 1 and versions["daily_cap_80"] == 1
    assert platform.admin.get("/v1/risk/rules").json() == body

    assert merchant.create_payment(amount=1_999).status_code == 201
    blocked = merchant.create_payment(amount=2_000)
    assert blocked.status_code == 422, blocked.text
    error = blocked.json()["error"]
    assert error["code"] == "risk_blocked"
    assert (error["details"]["rule"], error["details"]["version"]) == ("large_amount", 2)

    again = platform.admin.put("/v1/risk/rules", json={"rules": items})  # the same rules: a new set version
    assert again.json()["version"] == "v3"
    assert {r["id"]: r["version"] for r in again.json()["rules"]} == versions

    events = platform.admin.get("/v1/audit_events").json()
    changes = [e for e in events if e["action"] == "risk.rules.changed"]
    assert [e["target_id"] for e in changes][-2:] in (["v2", "v3"], ["v3", "v2"])
    assert any(e["details"].get("changed_rules") == ["large_amount", "tiny_review"] for e in changes)


def test_a_rule_set_that_cannot_run_is_refused_whole(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    bad_sets = [
        as_items(large_amount={"kind": "astrology"}),
        as_items(large_amount={"params": {"individual": 1}}),  # a param missing
        as_items(large_amount={"params": {"individual": -5, "enterprise": 1}}),
        as_items(payer_velocity_openid={"params": {"by": "email", "window_minutes": 10, "max_payments": 5}}),
        [*as_items(), as_items()[0]],  # a duplicate id
    ]
    for rules in bad_sets:
        refused = platform.admin.put("/v1/risk/rules", json={"rules": rules})
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "invalid_rules"
    malformed = platform.admin.put("/v1/risk/rules", json={"rules": [{"id": "x", "kind": "large_amount"}]})
    assert malformed.status_code in (400, 422)
    assert platform.admin.get("/v1/risk/rules").json()["version"] == "v1"
    assert merchant.api.put("/v1/risk/rules", json={"rules": as_items()}).status_code in (401, 403)
    assert merchant.api.get("/v1/risk/rules").status_code in (401, 403)


def test_a_reread_of_the_same_version_keeps_the_rule_set_and_a_new_version_replaces_it(
        platform: PlatformUnderTest, monkeypatch: Any) -> None:
    from indiepay.risk import rulesets

    ctx = platform.runtime.ctx
    monkeypatch.setattr(rulesets, "CACHE_SECONDS", 0.0)  # every call reads the version in force again
    first = rulesets.active_ruleset(ctx)
    assert rulesets.active_ruleset(ctx) is first  # unchanged: the same object, its plans warm
    monkeypatch.setattr(ctx.settings, "risk_shadow", True)  # INDIEPAY_RISK_SHADOW: built once, not per payment
    shadowed = rulesets.active_ruleset(ctx)
    assert all(rule.shadow for rule in shadowed.rules) and rulesets.active_ruleset(ctx) is shadowed
    monkeypatch.setattr(ctx.settings, "risk_shadow", False)
    put = platform.admin.put("/v1/risk/rules", json={"rules": as_items()})
    assert put.status_code == 200, put.text
    newer = rulesets.active_ruleset(ctx)
    assert newer is not first and newer.version == put.json()["version"]
