"""``GET /v1/merchants``: the operator's list, newest first, by status, KYC and collection mode, in pages;
admin only; no API key in it."""

from __future__ import annotations

from typing import Any

from tests.support.platform import PlatformUnderTest


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def test_the_operator_lists_merchants(any_platform: PlatformUnderTest) -> None:
    made = [any_platform.merchant(name) for name in ("Tea Shop", "Noodle Bar", "Kiln", "Dumpling House")]
    newest_first = [m.id for m in made][::-1]
    listed = any_platform.admin.get("/v1/merchants")
    assert ids(listed)[:4] == newest_first  # the demo or other merchants, if any, are older
    assert all(row["api_keys"] is None for row in listed.json()["data"])  # keys are shown once, at creation
    page1 = any_platform.admin.get("/v1/merchants", params={"limit": 2})
    assert ids(page1) == newest_first[:2] and page1.json()["has_more"]
    page2 = any_platform.admin.get("/v1/merchants", params={"limit": 2, "starting_after": ids(page1)[-1]})
    assert ids(page2) == newest_first[2:4]

    any_platform.admin.post(f"/v1/merchants/{made[1].id}/suspend", json={"reason": "chargebacks"}).raise_for_status()
    any_platform.admin.patch(f"/v1/merchants/{made[2].id}", json={"kyc_status": "complete"}).raise_for_status()
    assert ids(any_platform.admin.get("/v1/merchants", params={"status": "suspended"})) == [made[1].id]
    assert made[1].id not in ids(any_platform.admin.get("/v1/merchants", params={"status": "active"}))
    assert ids(any_platform.admin.get("/v1/merchants", params={"kyc_status": "complete"})) == [made[2].id]
    independent = ids(any_platform.admin.get("/v1/merchants", params={"collection_mode": "independent", "limit": 100}))
    assert set(newest_first) <= set(independent)
    assert ids(any_platform.admin.get("/v1/merchants", params={"collection_mode": "platform"})) == []


def test_bad_filters_and_other_callers_are_refused(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    for params, code in (({"status": "asleep"}, "invalid_status"), ({"kyc_status": "maybe"}, "invalid_kyc_status"),
                         ({"collection_mode": "both"}, "invalid_collection_mode"),
                         ({"starting_after": "mch_nosuchmerchant"}, "invalid_cursor")):
        refused = platform.admin.get("/v1/merchants", params=params)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == code, refused.text
    for limit in (0, 101):
        assert platform.admin.get("/v1/merchants", params={"limit": limit}).status_code == 400
    as_merchant = merchant.api.get("/v1/merchants")
    assert as_merchant.status_code == 403 and as_merchant.json()["error"]["code"] == "admin_required"
