"""Inputs at the edge of what a type can hold, found by fuzzing the API (schemathesis with real ids and
extreme values): each is a 4xx with a stable code, and nothing is written — never a 500.

Instants that do not convert to UTC (year 1 at +08:00, 9999-12-31 at −08:00), integers past 2**63, a risk
rule whose window reaches before year 1 (it made every payment fail afterwards), an export from year 1 (its
answer broke off after the 200), webhook hosts no request can reach, and a JSON body that is not UTF-8."""

from __future__ import annotations

import httpx
import pytest

from tests.support.platform import PlatformUnderTest

EARLY = "0001-01-01T00:00:00+08:00"
LATE = "9999-12-31T23:59:59-08:00"
HUGE = 2**63


def _refused(response: httpx.Response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code, response.text


@pytest.mark.parametrize("moment", [EARLY, LATE])
def test_a_list_window_or_alert_filter_past_the_storable_range_is_refused(platform: PlatformUnderTest,
                                                                          moment: str) -> None:
    merchant = platform.merchant("Tea")
    for path in ("/v1/payments", "/v1/refunds", "/v1/events"):
        for param in ("created_gte", "created_lt"):
            _refused(merchant.api.get(path, params={param: moment}), "invalid_created_range")
    _refused(merchant.api.get("/v1/alerts", params={"since": moment}), "invalid_since")
    assert merchant.api.get("/v1/payments", params={"created_gte": "1970-01-01T08:00:00+08:00"}).status_code == 200


def test_an_export_from_year_one_is_refused_before_it_streams(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    for fmt in ("csv", "xlsx"):
        _refused(merchant.api.get("/v1/exports/transactions",
                                  params={"from": "0001-01-01", "to": "0001-01-01", "format": fmt}), "invalid_span")


def test_integers_past_what_the_database_holds_are_refused(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    account = merchant.sandbox_account("wechatpay")
    _refused(platform.admin.get("/v1/audit_events", params={"after_sequence": HUGE}), "invalid_request")
    _refused(platform.admin.get("/v1/ledger/entries", params={"before": HUGE}), "invalid_request")
    _refused(platform.admin.patch(f"/v1/channel_accounts/{account['id']}", json={"daily_cap": HUGE}),
             "invalid_request")
    _refused(merchant.api.post("/v1/channel_accounts", json={"channel": "alipay", "sandbox": True,
                                                              "daily_cap": HUGE}), "invalid_request")
    for field in ("single_limit", "daily_limit"):
        _refused(platform.admin.patch(f"/v1/merchants/{merchant.id}", json={field: HUGE}), "invalid_request")
    assert [a["channel"] for a in merchant.api.get("/v1/channel_accounts").json()] == ["wechatpay"]
    assert merchant.api.get(f"/v1/channel_accounts/{account['id']}").json().get("daily_cap") is None


def test_a_risk_rule_looking_back_past_year_one_is_refused_and_payments_go_on(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    merchant.sandbox_account("wechatpay")
    before = platform.admin.get("/v1/risk/rules").json()
    rule = {"id": "mv", "kind": "merchant_velocity", "outcome": "review",
            "params": {"window_minutes": 9_999_999_999, "factor": 10, "min_payments": 30}}
    _refused(platform.admin.put("/v1/risk/rules", json={"rules": [rule]}), "invalid_rules")
    assert platform.admin.get("/v1/risk/rules").json() == before
    rule["params"]["window_minutes"] = 30 * 24 * 60  # thirty days: the longest look back
    assert platform.admin.put("/v1/risk/rules", json={"rules": [rule]}).status_code == 200
    assert merchant.create_payment(amount=1_000).status_code == 201


@pytest.mark.parametrize(("url", "code"), [("https://\u00ab", "webhook_url_not_allowed"),
                                           ("http://a\u0013b/hook", "webhook_url_not_allowed"),
                                           ("https://exa mple.com/hook", "invalid_request")])  # the schema's pattern
def test_a_webhook_host_no_request_can_reach_is_refused(platform: PlatformUnderTest, url: str, code: str) -> None:
    merchant = platform.merchant("Tea")
    _refused(merchant.api.put("/v1/webhook_endpoint", json={"url": url}), code)
    _refused(merchant.live.put("/v1/webhook_endpoint", json={"url": url}), code)
    answer = merchant.live.put("/v1/alert_channels", json={"webhook_url": url})
    assert answer.status_code == 400, answer.text


def test_a_json_body_that_is_not_utf8_is_malformed_json(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    merchant.sandbox_account("wechatpay")
    answer = merchant.api.post("/v1/payments", content=b"\xc3\x28",
                               headers={"Content-Type": "application/json"})
    _refused(answer, "malformed_json")
    assert merchant.api.get("/v1/payments").json()["data"] == []
