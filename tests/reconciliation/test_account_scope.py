"""Runs and monthly reports read by ``account_id``, over real loopback HTTP: a merchant key sees only the
accounts of its own key's mode. Naming another merchant's account, or its own account of the other mode,
reads as nothing — also for a key whose mode has no account of its own, whose list of visible accounts is
empty (which is not "every account": that is the operator, who names any account)."""

from __future__ import annotations

from datetime import date

from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from tests.support.platform import PlatformUnderTest

DAY = date(2026, 1, 15)
MONTH = f"{DAY:%Y-%m}"


def _run_of(platform: PlatformUnderTest, account_id: str) -> str:
    """A run of ``account_id`` for ``DAY``: the operator uploads an empty WeChat Pay trade bill."""
    response = platform.admin.post("/v1/reconciliation/bills", params={"account_id": account_id, "date": str(DAY)},
                                   content=render_wechat_trade_bill([]))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_a_merchant_naming_another_merchants_account_sees_no_run_and_an_empty_report(
        platform: PlatformUnderTest) -> None:
    a, b = platform.merchant("A"), platform.merchant("B")
    b_account = b.sandbox_account("wechatpay")
    run_id = _run_of(platform, b_account["id"])
    assert [r["id"] for r in b.api.get("/v1/reconciliation/runs").json()["data"]] == [run_id]

    for caller in (a.api, a.live):  # A has no account in either mode: its visible list is empty, not "all"
        runs = caller.get("/v1/reconciliation/runs", params={"account_id": b_account["id"]})
        assert runs.status_code == 200 and runs.json() == {"data": []}, runs.text
        report = caller.get(f"/v1/reconciliation/reports/{MONTH}", params={"account_id": b_account["id"]})
        assert report.status_code == 200 and report.json()["runs"] == 0, report.text
        assert caller.get(f"/v1/reconciliation/runs/{run_id}").status_code == 404
    a.sandbox_account("wechatpay")  # with an account of its own, still nothing of B's
    assert a.api.get("/v1/reconciliation/runs", params={"account_id": b_account["id"]}).json() == {"data": []}

    named = platform.admin.get("/v1/reconciliation/runs", params={"account_id": b_account["id"]}).json()["data"]
    assert [r["id"] for r in named] == [run_id]  # the operator names any account
    assert platform.admin.get(f"/v1/reconciliation/reports/{MONTH}",
                              params={"account_id": b_account["id"]}).json()["runs"] == 1


def test_a_test_key_naming_its_merchants_production_account_sees_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    production = merchant.live_account("wechatpay")
    run_id = _run_of(platform, production["id"])
    params = {"account_id": production["id"]}
    assert merchant.api.get("/v1/reconciliation/runs", params=params).json() == {"data": []}
    assert merchant.api.get(f"/v1/reconciliation/reports/{MONTH}", params=params).json()["runs"] == 0
    assert [r["id"] for r in merchant.live.get("/v1/reconciliation/runs", params=params).json()["data"]] == [run_id]
    assert merchant.live.get(f"/v1/reconciliation/reports/{MONTH}", params=params).json()["runs"] == 1
