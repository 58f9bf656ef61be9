"""Audit events keep the mode of what they are about, over real loopback HTTP: a merchant's test key lists
the events about its sandbox accounts and test data, its live key those about its production accounts and
live keys, both the events about the merchant itself; the operator lists them all. Events recorded before
events kept their mode are listed by the mode of their target. The chain verifies throughout."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from indiepay.audit import modes
from indiepay.audit.service import record, verify
from tests.support.platform import PlatformUnderTest
from tests.web.test_dashboard import signed_in


def _listed(client: httpx.Client) -> set[tuple[str, str | None]]:
    response = client.get("/v1/audit_events", params={"limit": 1000})
    assert response.status_code == 200, response.text
    return {(e["action"], e["target_id"]) for e in response.json()}


def _modes(client: httpx.Client) -> dict[tuple[str, str | None], Any]:
    return {(e["action"], e["target_id"]): e["livemode"]
            for e in client.get("/v1/audit_events", params={"limit": 1000}).json()}


def test_each_key_lists_the_events_of_its_own_mode(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    merchant = platform.merchant("Tea")
    sandbox, production = merchant.sandbox_account("wechatpay"), merchant.live_account("wechatpay")
    assert merchant.live.get(f"/v1/channel_accounts/{production['id']}").status_code == 200
    live_key = merchant.live.post("/v1/api_keys", json={"mode": "live", "read_only": True}).json()
    test_key = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True}).json()
    assert platform.admin.post(f"/v1/channel_accounts/{production['id']}/suspend",
                               json={"reason": "key leak"}).status_code == 200
    assert platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "review"}).status_code == 200
    signed_in(platform, merchant.api.headers["Authorization"].removeprefix("Bearer "))

    test_events = {("credentials.created", sandbox["id"]), ("api_key.created", test_key["id"])}
    live_events = {("credentials.created", production["id"]), ("credentials.viewed", production["id"]),
                   ("api_key.created", live_key["id"]), ("account.suspended", production["id"])}
    both = {("merchant.suspended", merchant.id)}
    test_listed, live_listed = _listed(merchant.api), _listed(merchant.live)
    assert test_listed >= test_events | both and not test_listed & live_events, test_listed
    assert live_listed >= live_events | both and not live_listed & test_events, live_listed
    assert ("dashboard.signed_in", None) in test_listed and ("dashboard.signed_in", None) not in live_listed
    assert _listed(platform.admin) >= test_events | live_events | both
    shown = _modes(platform.admin)
    assert {shown[e] for e in test_events} == {False} and {shown[e] for e in live_events} == {True}
    assert shown[("merchant.suspended", merchant.id)] is None
    with platform.runtime.ctx.db.read() as session:
        assert verify(session).ok


def test_events_recorded_before_modes_are_listed_by_their_targets(any_platform: PlatformUnderTest,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Events from before migration 0029 have no stored mode (the append-only log is never rewritten): the
    listing derives it from what they are about, and shows the ones about neither mode to both keys."""
    platform = any_platform
    merchant = platform.merchant("Tea")
    sandbox, production = merchant.sandbox_account("wechatpay"), merchant.live_account("wechatpay")
    monkeypatch.setattr(modes, "mode_of_target", lambda *_: None)  # record as before the column existed
    for account in (sandbox, production):
        assert platform.admin.post(f"/v1/channel_accounts/{account['id']}/suspend",
                                   json={"reason": "old"}).status_code == 200
    ctx = platform.runtime.ctx
    with ctx.db.transaction() as session:
        for live in (False, True):
            record(session, ctx.clock, actor=f"merchant:{merchant.id}", action=modes.SIGNED_IN,
                   merchant_id=merchant.id, details={"key": f"old-{live}", "livemode": live})
        record(session, ctx.clock, actor="admin", action="merchant.updated", target_type="merchant",
               target_id=merchant.id, merchant_id=merchant.id, details={})
        record(session, ctx.clock, actor="admin", action="payment.gone", target_type="payment",
               target_id="pay_long_deleted", merchant_id=merchant.id, details={})
    assert {e["livemode"] for e in merchant.api.get("/v1/audit_events").json()
            if e["action"] != "credentials.created"} == {None}

    def old(client: httpx.Client) -> set[Any]:
        events = client.get("/v1/audit_events", params={"limit": 1000}).json()
        return {e["target_id"] or e["details"]["key"] for e in events if e["livemode"] is None}

    neither = {merchant.id, "pay_long_deleted"}
    assert old(merchant.api) == {sandbox["id"], "old-False"} | neither
    assert old(merchant.live) == {production["id"], "old-True"} | neither
    with ctx.db.read() as session:
        assert verify(session).ok
