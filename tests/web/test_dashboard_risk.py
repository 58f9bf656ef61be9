"""The operator's risk page over real loopback HTTP: the rule set in force as a table and as editable JSON,
a set saved from the text area put in force as ``PUT /v1/risk/rules`` would (versions assigned; the next
payment screened by it; its decisions listed and filtered by outcome), bad text refused with its code and
nothing changed, each rule's own shadow flag kept under ``INDIEPAY_RISK_SHADOW``, and the guards (operator
only, CSRF)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import httpx
import pytest

from tests.risk.test_rules_api import as_items
from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import csrf, key_of, signed_in
from tests.web.test_dashboard_operator import operator

BLOCK_LARGE = {"id": "block_large", "kind": "large_amount", "params": {"individual": 5_000, "enterprise": 5_000},
               "outcome": "block"}
REVIEW_ALL = {"id": "review_all", "kind": "large_amount", "params": {"individual": 1, "enterprise": 1},
              "outcome": "review"}


def text_area(page: str) -> str:
    found = re.search(r'<textarea id="rules-text" name="rules"[^>]*>(.*?)</textarea>', page, re.S)
    assert found, "no rules text area on the page"
    return html.unescape(found.group(1))


def rules_in_force(platform: PlatformUnderTest) -> dict[str, Any]:
    answer = platform.admin.get("/v1/risk/rules")
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def save(client: httpx.Client, page: str, rules: Any, note: str = "") -> httpx.Response:
    text = rules if isinstance(rules, str) else json.dumps(rules)
    return client.post("/dashboard/risk/rules", data={"csrf": csrf(page), "rules": text, "note": note})


def test_the_operator_sees_the_rules_and_puts_an_edited_set_in_force(platform: PlatformUnderTest) -> None:
    admin = operator(platform)
    page = admin.get("/dashboard/risk")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    assert 'id="ruleset-version">v1' in page.text and 'id="shadow-mode">off' in page.text
    for rule in as_items():
        assert f'id="rule-{rule["id"]}"' in page.text
    assert json.loads(text_area(page.text)) == as_items()  # the RuleIn fields, exactly what PUT takes
    assert 'href="/dashboard/risk"' in page.text and 'href="/dashboard/platform_accounts"' in page.text

    edited = json.loads(text_area(page.text))
    for rule in edited:
        if rule["id"] == "daily_cap_80":
            rule["params"]["pct"] = 90
    done = save(admin, page.text, edited, note="a looser cap")
    assert done.status_code == 303 and done.headers["location"] == "/dashboard/risk?done=rules"
    after = rules_in_force(platform)
    assert after["version"] == "v2"
    assert {r["id"]: r["version"] for r in after["rules"]} == {r["id"]: 2 if r["id"] == "daily_cap_80" else 1
                                                              for r in as_items()}
    assert next(r for r in after["rules"] if r["id"] == "daily_cap_80")["params"] == {"pct": 90}
    shown = admin.get(done.headers["location"]).text
    assert 'id="notice"' in shown and "version v2" in shown and 'id="ruleset-version">v2' in shown
    assert json.loads(text_area(shown))[7]["params"] == {"pct": 90}
    changes = platform.sql("SELECT target_id, details FROM audit_events WHERE action = 'risk.rules.changed'")
    assert len(changes) == 1 and changes[0][0] == "v2" and "a looser cap" in str(changes[0][1])

    # the object form PUT takes is accepted too, its note kept unless the form gives one
    again = save(admin, shown, {"rules": edited[:3], "note": "three rules only"})
    assert again.status_code == 303
    assert [r["id"] for r in rules_in_force(platform)["rules"]] == [r["id"] for r in edited[:3]]
    assert rules_in_force(platform)["version"] == "v3"
    assert "three rules only" in str(platform.sql("SELECT note FROM risk_rulesets WHERE version = 'v3'"))


def test_a_blocking_rule_from_the_page_refuses_payments_and_its_decision_is_listed(
        platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Guarded Tea")
    merchant.sandbox_account("wechatpay")
    admin = operator(platform)
    page = admin.get("/dashboard/risk").text
    assert save(admin, page, [*json.loads(text_area(page)), BLOCK_LARGE, REVIEW_ALL]).status_code == 303

    reviewed = merchant.create_payment(amount=4_999)
    assert reviewed.status_code == 201, reviewed.text
    blocked = merchant.create_payment(amount=5_000)
    assert blocked.status_code == 422, blocked.text
    error = blocked.json()["error"]
    assert error["code"] == "risk_blocked" and (error["details"]["rule"], error["details"]["version"]) == \
        ("block_large", 1)
    [review] = platform.admin.get("/v1/risk/decisions", params={"outcome": "review"}).json()["data"]
    assert review["object_id"] == reviewed.json()["id"]

    listed = admin.get("/dashboard/risk", params={"outcome": "block"})
    assert listed.status_code == 200
    rows = listed.text.split('id="decisions"', 1)[1]
    assert f'id="decision-{error["details"]["decision_id"]}"' in rows and merchant.id in rows
    assert "block_large v1" in rows and f'id="decision-{review["id"]}"' not in rows
    everything = admin.get("/dashboard/risk").text.split('id="decisions"', 1)[1]
    assert f'id="decision-{review["id"]}"' in everything and "review_all v1" in everything
    assert f'id="decision-{error["details"]["decision_id"]}"' in everything
    only_reviews = admin.get("/dashboard/risk", params={"outcome": "review"}).text.split('id="decisions"', 1)[1]
    assert f'id="decision-{error["details"]["decision_id"]}"' not in only_reviews


def test_bad_rules_and_filters_are_refused_with_their_codes_and_change_nothing(platform: PlatformUnderTest) -> None:
    admin = operator(platform)
    page = admin.get("/dashboard/risk").text
    before = rules_in_force(platform)
    audited = platform.sql("SELECT count(*) FROM audit_events")
    wrong_outcome = as_items(large_amount={"outcome": "maybe"})
    cases: list[tuple[str, str, str]] = [
        ("{", "", "malformed_json"), ("", "", "malformed_json"), ("[" * 100_000, "", "malformed_json"),
        ("NaN]", "", "malformed_json"), ("x" * 200_001, "", "rules_too_large"),
        ('"text"', "", "invalid_rules"), ("7", "", "invalid_rules"),
        ('[{"id": "x", "kind": "large_amount"}]', "", "invalid_rules"),
        (json.dumps(wrong_outcome), "", "invalid_rules"),
        (json.dumps({"rules": as_items(), "extra": 1}), "", "invalid_rules"),
        (json.dumps(as_items()), "n" * 501, "invalid_rules"), (json.dumps(as_items()), "a\x01b", "invalid_rules"),
        (json.dumps(as_items(large_amount={"kind": "astrology"})), "", "invalid_rules"),  # put_rules' own refusal
        (json.dumps([*as_items(), as_items()[0]]), "", "invalid_rules"),  # a duplicate id
    ]
    for text, note, code in cases:
        refused = save(admin, page, text, note=note)
        assert refused.status_code == 400 and f"({code})" in refused.text, (text[:60], refused.text[-600:])
        assert 'id="rules-form"' in refused.text  # the page again, with the reason on it
    schema = save(admin, page, json.dumps(wrong_outcome))
    assert 'id="error-location">at ["rules", 6, "outcome"]' in html.unescape(schema.text)
    assert json.loads(text_area(schema.text)) == wrong_outcome  # what was typed, to fix rather than retype
    missing = admin.post("/dashboard/risk/rules", data={"csrf": csrf(page)})
    assert missing.status_code == 400 and "(malformed_json)" in missing.text
    for bad in ("maybe", "\x01", "BLOCK", "x" * 500):
        filtered = admin.get("/dashboard/risk", params={"outcome": bad})
        assert filtered.status_code == 400 and "(invalid_outcome)" in filtered.text, bad
    assert rules_in_force(platform) == before
    assert platform.sql("SELECT count(*) FROM risk_rulesets") == [(0,)]
    assert platform.sql("SELECT count(*) FROM audit_events") == audited


def test_each_rules_own_shadow_flag_is_kept_under_shadow_mode(platform: PlatformUnderTest,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    admin = operator(platform)
    monkeypatch.setattr(platform.runtime.ctx.settings, "risk_shadow", True)  # INDIEPAY_RISK_SHADOW
    page = admin.get("/dashboard/risk").text
    assert 'id="shadow-mode">on' in page
    assert rules_in_force(platform)["shadow_mode"] is True  # in force: every rule runs shadowed
    assert json.loads(text_area(page)) == as_items()  # to edit: each rule's own flag (none shadowed)
    assert save(admin, page, text_area(page)).status_code == 303
    monkeypatch.setattr(platform.runtime.ctx.settings, "risk_shadow", False)
    after = rules_in_force(platform)
    assert after["version"] == "v2" and not any(rule["shadow"] for rule in after["rules"])


def test_the_risk_page_is_the_operators_and_its_form_needs_the_token(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Nosy Risk")
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard").text)
    looked = client.get("/dashboard/risk")
    assert looked.status_code == 403 and "(admin_required)" in looked.text and 'id="rules-form"' not in looked.text
    assert 'href="/dashboard/risk"' not in client.get("/dashboard").text
    posted = client.post("/dashboard/risk/rules", data={"csrf": token, "rules": json.dumps([BLOCK_LARGE])})
    assert posted.status_code == 403 and "(admin_required)" in posted.text
    stranger = httpx.Client(base_url=platform.base_url, timeout=60, follow_redirects=False)
    platform.clients.append(stranger)
    for away in (stranger.get("/dashboard/risk"), stranger.post("/dashboard/risk/rules", data={"rules": "[]"})):
        assert away.status_code == 303 and away.headers["location"] == "/dashboard/login"
    admin = operator(platform)
    for data in ({}, {"csrf": "guessed"}):
        forged = admin.post("/dashboard/risk/rules", data={**data, "rules": json.dumps([BLOCK_LARGE])})
        assert forged.status_code == 403 and "(csrf_failed)" in forged.text
    assert rules_in_force(platform)["version"] == "v1"
    assert platform.sql("SELECT count(*) FROM risk_rulesets") == [(0,)]
