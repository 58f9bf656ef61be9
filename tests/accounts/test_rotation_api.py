"""``PUT /v1/channel_accounts/{id}/credentials``: the same validation as account creation, stable error
codes, who may rotate, a harmless repeat, no secret in any answer; and ``credentials.viewed`` audit events
for single-account reads only."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.platform import PlatformUnderTest


def _put(client: httpx.Client, account_id: str, credentials: Any) -> httpx.Response:
    return client.put(f"/v1/channel_accounts/{account_id}/credentials", json={"credentials": credentials})


def _error(response: httpx.Response) -> tuple[int, str, Any]:
    error = response.json()["error"]
    return response.status_code, error["code"], error.get("details", {}).get("field")


def test_rotation_validates_like_creation_and_answers_with_stable_codes(platform: PlatformUnderTest) -> None:
    merchant, other = platform.merchant("A"), platform.merchant("B")
    account, creds = merchant.own_sandbox_account("wechatpay")
    other_creds = httpx.post(f"{platform.sandbox}/wechatpay/_provision", json={}, timeout=30).json()["credentials"]
    url = f"/v1/channel_accounts/{account['id']}/credentials"

    assert _error(_put(merchant.api, account["id"], {**creds, "apiv3_key": "short"})) == (
        400, "invalid_credentials", "apiv3_key")
    assert _error(_put(merchant.api, account["id"], {**creds, "unknown": "x"})) == (
        400, "invalid_credentials", "unknown")
    assert _error(_put(merchant.api, account["id"], other_creds)) == (400, "credentials_identity_changed", "mchid")
    extra = merchant.api.put(url, json={"credentials": creds, "merchant_id": other.id})
    assert extra.status_code in (400, 422) and "error" in extra.json()
    assert _error(_put(other.api, account["id"], creds))[:2] == (404, "account_not_found")
    assert _error(_put(merchant.live, account["id"], creds))[:2] == (404, "account_not_found")
    assert _error(_put(platform.admin, account["id"], creds))[:2] == (403, "owner_required")

    same = _put(merchant.api, account["id"], creds)  # a repeat of what is held changes nothing
    assert same.status_code == 200 and same.json()["previous_credentials"] is None
    changed = {**creds, "apiv3_key": "N" * 32}
    first, again = _put(merchant.api, account["id"], changed), _put(merchant.api, account["id"], changed)
    assert first.status_code == again.status_code == 200
    assert first.json()["previous_credentials"] == again.json()["previous_credentials"]
    for response in (first, again, merchant.api.get(f"/v1/channel_accounts/{account['id']}")):
        assert "N" * 32 not in response.text and creds["apiv3_key"] not in response.text
        assert "PRIVATE KEY" not in response.text

    events = platform.admin.get("/v1/audit_events", params={"limit": 1000, "action": "credentials.rotated"}).json()
    assert [e["target_id"] for e in events] == [account["id"]]  # the repeat was not a rotation
    assert events[0]["details"]["changed"] == ["apiv3_key"]
    assert "N" * 32 not in str(events[0]) and creds["apiv3_key"] not in str(events[0])


def test_the_operator_rotates_platform_accounts(platform: PlatformUnderTest) -> None:
    credentials = httpx.post(f"{platform.sandbox}/alipay/_provision", json={}, timeout=30).json()["credentials"]
    created = platform.admin.post("/v1/platform/channel_accounts", json={
        "channel": "alipay", "environment": "sandbox", "credentials": credentials})
    assert created.status_code == 201, created.text
    account = created.json()
    changed = httpx.post(f"{platform.sandbox}/alipay/_credentials/rotate", json={"app_id": credentials["app_id"]},
                         timeout=30).json()["credentials"]
    response = _put(platform.admin, account["id"], {**credentials, **changed})
    assert response.status_code == 200, response.text
    assert response.json()["previous_credentials"]["alipay_public_key"]["fingerprint"] == (
        account["credentials"]["alipay_public_key"]["fingerprint"])
    merchant = platform.merchant()
    assert _error(_put(merchant.api, account["id"], credentials))[:2] == (404, "account_not_found")


def test_single_account_reads_are_audited_and_lists_are_not(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    assert merchant.api.get("/v1/channel_accounts").status_code == 200
    assert platform.admin.get("/v1/audit_events", params={"action": "credentials.viewed"}).json() == []
    shown = merchant.api.get(f"/v1/channel_accounts/{account['id']}").json()
    assert set(shown["credentials"]["apiv3_key"]) == {"fingerprint", "last4"}
    viewed = platform.admin.get("/v1/audit_events", params={"action": "credentials.viewed"}).json()
    assert [(e["target_id"], e["actor"], e["merchant_id"]) for e in viewed] == [
        (account["id"], f"merchant:{merchant.id}", merchant.id)]
