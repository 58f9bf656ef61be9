"""GET /v1/settlements and /v1/settlements/{id} on a running platform: a merchant's live key sees its own
batches (with their payouts), test keys are refused, other merchants' batches are 404, and the operator
lists everything with filters and cursor pagination. The in-process worker pays the payouts out."""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from indiepay.settlements import rules
from indiepay.settlements.service import settle_day
from tests.settlements.books import cst, owed, pay
from tests.support.platform import MerchantClient, PlatformUnderTest


def _settle_yesterday(platform: PlatformUnderTest, *merchants: MerchantClient) -> date:
    day = rules.last_closed_day(platform.clock.now())
    db = platform.runtime.ctx.db
    with db.transaction() as session:  # live payments of yesterday, straight into the ledger
        for n, merchant in enumerate(merchants):
            pay(session, platform.clock, f"pay_api_{n}", merchant.id, 10_000 * (n + 1), cst(day, 10))
    with db.transaction() as session:
        settle_day(session, platform.clock, day)
    return day


def _wait_paid(client: Any, settlement_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        body = client.get(f"/v1/settlements/{settlement_id}").json()
        if body["payout"]["status"] == "paid":
            return body
        time.sleep(0.05)
    raise AssertionError(f"payout not paid: {body}")


def test_merchants_see_their_own_live_settlements(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    tea, cake = platform.merchant("Tea"), platform.merchant("Cake")
    day = _settle_yesterday(platform, tea, cake)
    listed = tea.live.get("/v1/settlements")
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["object"] == "list" and body["has_more"] is False
    [mine] = body["data"]
    assert mine["merchant_id"] == tea.id and mine["business_date"] == day.isoformat()
    assert mine["object"] == "settlement" and mine["status"] == "settled"
    assert mine["payments_amount"] == 10_000 and mine["net_amount"] == mine["payout_amount"] == owed(10_000)
    assert (mine["carried_in"] + mine["payments_amount"] - mine["refunds_amount"] - mine["platform_fee"]
            - mine["channel_fee"] + mine["other_amount"]) == mine["net_amount"]
    assert mine["payout"]["object"] == "payout" and mine["payout"]["amount"] == owed(10_000)
    detail = _wait_paid(tea.live, mine["id"])
    assert detail["payout"]["reference"].startswith("sbxpo_") and detail["payout"]["paid_at"]
    assert platform.runtime.payouts.paid_total(tea.id) == owed(10_000)  # type: ignore[attr-defined]

    refused = tea.api.get("/v1/settlements")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "livemode_required"
    assert tea.api.get(f"/v1/settlements/{mine['id']}").status_code == 403
    theirs = cake.live.get("/v1/settlements").json()["data"][0]
    hidden = tea.live.get(f"/v1/settlements/{theirs['id']}")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "settlement_not_found"
    assert tea.live.get("/v1/settlements", params={"merchant_id": cake.id}).status_code == 400
    assert tea.live.get("/v1/settlements", params={"merchant_id": tea.id}).json()["data"][0]["id"] == mine["id"]
    assert tea.live.get("/v1/settlements", params={"starting_after": theirs["id"]}).status_code == 400


def test_the_operator_lists_all_settlements_with_filters_and_pages(platform: PlatformUnderTest) -> None:
    merchants = [platform.merchant(name) for name in ("Tea", "Cake", "Noodles")]
    day = _settle_yesterday(platform, *merchants)
    everything = platform.admin.get("/v1/settlements", params={"date": day.isoformat()}).json()
    assert {s["merchant_id"] for s in everything["data"]} == {m.id for m in merchants}
    one = platform.admin.get("/v1/settlements", params={"merchant_id": merchants[1].id}).json()["data"]
    assert [s["merchant_id"] for s in one] == [merchants[1].id] and one[0]["payments_amount"] == 20_000
    assert platform.admin.get("/v1/settlements", params={"date": "1999-01-01"}).json()["data"] == []
    bad = platform.admin.get("/v1/settlements", params={"date": "25/11/2026"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_date"
    assert platform.admin.get("/v1/settlements", params={"limit": 0}).status_code == 400

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"starting_after": cursor} if cursor else {})}
        page = platform.admin.get("/v1/settlements", params=params).json()
        seen += [s["id"] for s in page["data"]]
        if not page["has_more"]:
            break
        cursor = page["data"][-1]["id"]
    assert sorted(seen) == sorted(s["id"] for s in everything["data"]) and len(seen) == 3
    detail = platform.admin.get(f"/v1/settlements/{seen[0]}")
    assert detail.status_code == 200 and detail.json()["payout"] is not None
    assert platform.admin.get("/v1/settlements/stl_missing").status_code == 404
