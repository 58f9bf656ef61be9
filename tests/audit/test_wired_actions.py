"""Every wired sensitive action over real HTTP leaves an audit event: channel credentials created, a
suspension and resumption, a refund, a failed authentication, API key creation and roll; a merchant sees
only its own events, the operator all of them, and the chain still verifies afterwards."""

from __future__ import annotations

from typing import Any

import httpx

from indiepay.audit.service import verify
from tests.support.platform import PlatformUnderTest


def _events(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/v1/audit_events", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return list(response.json())


def test_sensitive_actions_are_audited(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    other = platform.merchant("Other")
    account = merchant.sandbox_account("wechatpay")
    paid = merchant.create_payment(amount=3000).json()
    merchant.pay(paid)
    merchant.wait_status(f"/v1/payments/{paid['id']}", "succeeded")
    refund = merchant.api.post("/v1/refunds", json={"payment_id": paid["id"], "amount": 1000})
    assert refund.status_code == 201, refund.text
    assert platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "review"}).status_code == 200
    assert platform.admin.post(f"/v1/merchants/{merchant.id}/resume", json={"reason": "cleared"}).status_code == 200
    assert platform.admin.post(f"/v1/channel_accounts/{account['id']}/suspend",
                               json={"reason": "key leak"}).status_code == 200
    with httpx.Client(base_url=platform.base_url) as stranger:
        bad = stranger.get("/v1/payments", headers={"Authorization": "Bearer sk_test_guessing_a_key"})
    assert bad.status_code == 401

    everything = _events(platform.admin)
    by_action = {(e["action"], e["target_id"]): e for e in everything}
    created = by_action[("credentials.created", account["id"])]
    assert created["actor"] == f"merchant:{merchant.id}" and created["merchant_id"] == merchant.id
    assert created["origin"] == "127.0.0.1" and created["result"] == "ok"
    assert "sk_" not in str(created["details"])  # field names only, never values
    rf = by_action[("refund.created", refund.json()["id"])]
    assert rf["details"]["amount"] == 1000 and rf["details"]["payment_id"] == paid["id"]
    suspended = by_action[("merchant.suspended", merchant.id)]
    assert suspended["actor"] == "admin" and suspended["details"]["reason"] == "review"
    assert by_action[("merchant.resumed", merchant.id)]["details"]["reason"] == "cleared"
    assert by_action[("account.suspended", account["id"])]["merchant_id"] == merchant.id
    failed = [e for e in everything if e["action"] == "auth.failed"]
    assert failed and failed[-1]["actor"] == "key:sk_test_gues" and failed[-1]["result"] == "refused"
    assert failed[-1]["details"]["code"] == "invalid_api_key"
    assert "guessing" not in str(failed[-1])  # only the first 12 characters of a presented key are kept
    assert [e["sequence"] for e in everything] == list(range(1, len(everything) + 1))

    mine = _events(merchant.api)
    assert mine and all(e["merchant_id"] == merchant.id for e in mine)
    assert not any(e["merchant_id"] == merchant.id for e in _events(other.api))
    assert _events(platform.admin, action="refund.created")[0]["target_id"] == refund.json()["id"]
    with platform.runtime.ctx.db.read() as session:
        assert verify(session).ok


def test_an_audit_failure_never_turns_a_401_into_a_500(platform: PlatformUnderTest) -> None:
    platform.sql("DROP TABLE audit_chain_head")
    with httpx.Client(base_url=platform.base_url) as stranger:
        response = stranger.get("/v1/payments", headers={"Authorization": "Bearer sk_test_nope"})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
