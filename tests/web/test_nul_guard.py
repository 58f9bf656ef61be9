"""A NUL character anywhere in a request — path, query, JSON or form body — is a 400
``invalid_characters`` before any route sees it, on SQLite as on PostgreSQL (whose text columns cannot
hold one: it used to end as a server error there), while binary uploads, whose bytes hold NULs
legitimately, pass through to their route."""

from __future__ import annotations

import httpx

from tests.support.platform import PlatformUnderTest


def refused(response: httpx.Response) -> bool:
    return response.status_code == 400 and response.json()["error"]["code"] == "invalid_characters"


def test_a_nul_anywhere_is_refused_before_the_route(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    before = platform.sql("SELECT count(*) FROM merchants")
    assert refused(platform.admin.post("/v1/merchants", json={"name": "Tea\u0000", "short_name": "Tea",
                                                              "subject_type": "enterprise"}))
    assert refused(platform.admin.post("/v1/merchants", content=b'{"name": "Tea\\u0000"}',
                                       headers={"Content-Type": "application/json; charset=utf-8"}))
    assert platform.sql("SELECT count(*) FROM merchants") == before
    merchant = platform.merchant()
    assert refused(merchant.api.get("/v1/payments/pay_%00"))
    assert refused(merchant.api.get("/v1/payments", params={"out_trade_no": "T\u0000"}))
    assert refused(merchant.api.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "x\u0000"}))
    assert refused(httpx.post(f"{platform.base_url}/dashboard/login", data={"api_key": "sk\u0000"}, timeout=30))
    # what is not JSON or a form is the route's to judge: a bill upload's zip holds NUL bytes
    upload = merchant.api.post("/v1/reconciliation/bills", files={"file": ("bill.zip", b"PK\x03\x04\x00\x00")},
                               params={"account_id": "acct_nope"})
    assert upload.status_code < 500 and not refused(upload)
    # and a request without one goes on as before
    assert merchant.api.get(f"/v1/merchants/{merchant.id}").status_code == 200
