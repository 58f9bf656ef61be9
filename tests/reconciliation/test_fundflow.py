"""The WeChat Pay fund-flow bill (资金账单) in reconciliation, over real loopback HTTP: the worker's account job
fetches it with the trade bill (hash-checked, retried while not published), stores it with the run and
checks it against the trade bill; each fund-flow corruption knob of the sandbox gives exactly one
fund-flow disagreement and no difference; a wrong hash is rejected and alerted."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from indiepay.db.jobs.worker import RetryLater
from indiepay.reconciliation import bills, rules, tasks
from tests.e2e.test_reconciliation_round_trip import DAY, beijing, set_sandbox_clock, trade_day
from tests.support.platform import MerchantClient, PlatformUnderTest

FEE = {1_000: 6, 2_550: 15, 550: 3}  # 0.6 %, rounded half up to the fen, as the sandbox books them
CLEAN = {"payments": {"count": 2, "amount": 3_550}, "refunds": {"count": 1, "amount": 550},
         "fees_charged": {"count": 2, "amount": FEE[1_000] + FEE[2_550]},
         "fees_returned": {"count": 1, "amount": FEE[550]},
         "net": 3_550 - 550 - FEE[1_000] - FEE[2_550] + FEE[550]}


def _job(platform: PlatformUnderTest, account_id: str) -> RetryLater | None:
    """The worker's job for one account's day (``reconciliation.run_day`` with ``account_id``)."""
    return tasks.run_day_job(platform.runtime.ctx, {"date": DAY.isoformat(), "account_id": account_id})


def _run(merchant: MerchantClient, account_id: str) -> dict[str, Any]:
    response = merchant.api.get(f"/v1/reconciliation/runs/{rules.run_id(account_id, DAY)}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def _fault(platform: PlatformUnderTest, credentials: dict[str, str], **fault: Any) -> None:
    response = httpx.post(f"{platform.sandbox}/wechatpay/_faults", timeout=30, json={
        "mchid": credentials["mchid"], "bill_fault": {"bill": "fundflow", "bill_date": DAY.isoformat(), **fault}})
    assert response.status_code < 300, response.text


def _alerts(platform: PlatformUnderTest, kind: str) -> list[Any]:
    rows = platform.sql("SELECT details FROM alerts WHERE kind = :kind", kind=kind)
    return [json.loads(row[0]) if isinstance(row[0], str) else row[0] for row in rows]


def _bills(platform: PlatformUnderTest, account_id: str) -> list[tuple[str, str]]:
    return sorted(platform.sql("SELECT kind, source FROM reconciliation_bills WHERE account_id = :a", a=account_id))


def test_the_worker_fetches_the_fundflow_bill_and_it_agrees_with_the_trade_bill(
        platform: PlatformUnderTest, monkeypatch: pytest.MonkeyPatch) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("wechatpay")
    trade_day(platform, merchant, "wechatpay")
    assert _job(platform, account["id"]) is None
    assert _bills(platform, account["id"]) == [("fundflow", "fetch"), ("trade", "fetch")]
    run = _run(merchant, account["id"])
    assert run["differences"] == [] and run["status"] == "balanced"
    flow = run["fundflow"]
    assert flow["status"] == "agreed" and flow["disagreements"] == []
    assert flow["trade"] == CLEAN and flow["fundflow"] == CLEAN
    assert flow["bill_rows"] == 2 * 2 + 2 and len(flow["bill_sha1"]) == 40
    assert flow["other"] == {"income": {"count": 0, "amount": 0}, "expense": {"count": 0, "amount": 0}}
    assert _alerts(platform, "fundflow_disagreement") == []

    def read_again(*_: object) -> None:
        raise AssertionError("a run read the stored fund-flow bill again")

    monkeypatch.setattr(bills, "read_fundflow_bill", read_again)  # the sums were stored with the bill
    assert _job(platform, account["id"]) is None  # re-run from the stored bills: the same check
    assert _run(merchant, account["id"])["fundflow"] == flow


@pytest.mark.parametrize(("fault", "target", "item", "counts", "difference"), [
    ("drop_row", "payment", "payments", (2, 1), -1_000),
    ("change_amount", "payment", "payments", (2, 2), 1),
    ("duplicate_row", "payment", "payments", (2, 3), 1_000),
    ("drop_row", "refund", "refunds", (1, 0), -550),
    ("change_amount", "refund", "refunds", (1, 1), 1),
])
def test_each_fundflow_corruption_gives_exactly_its_disagreement(
        platform: PlatformUnderTest, fault: str, target: str, item: str, counts: tuple[int, int],
        difference: int) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    payments = trade_day(platform, merchant, "wechatpay")
    [(out_refund_no,)] = platform.sql("SELECT out_refund_no FROM refunds WHERE payment_id = :p", p=payments[1]["id"])
    _fault(platform, credentials, fault=fault, **(
        {"out_trade_no": payments[0]["out_trade_no"]} if target == "payment" else {"out_refund_no": out_refund_no}))
    assert _job(platform, account["id"]) is None
    run = _run(merchant, account["id"])
    assert run["differences"] == [] and run["status"] == "balanced"  # the trade bill matched as ever
    flow = run["fundflow"]
    assert flow["status"] == "disagreed" and flow["trade"] == CLEAN
    [disagreement] = flow["disagreements"]
    trade_amount = CLEAN[item]["amount"]
    assert disagreement == {"item": item, "trade_count": counts[0], "fundflow_count": counts[1],
                            "trade_amount": trade_amount, "fundflow_amount": trade_amount + difference,
                            "difference": difference}
    assert flow["fundflow"]["net"] == CLEAN["net"] + (difference if item == "payments" else -difference)
    [alert] = _alerts(platform, "fundflow_disagreement")
    assert alert["disagreements"] == [disagreement] and alert["run_id"] == run["id"]


def test_a_fundflow_bill_with_a_wrong_hash_is_rejected_alerted_and_fetched_again(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    trade_day(platform, merchant, "wechatpay")
    _fault(platform, credentials, fault="wrong_hash")
    retry = _job(platform, account["id"])
    assert isinstance(retry, RetryLater) and retry.reason == "fundflow bill hash mismatch"
    assert _bills(platform, account["id"]) == []  # neither bill stored, no run
    assert platform.sql("SELECT count(*) FROM reconciliation_runs WHERE account_id = :a", a=account["id"]) == [(0,)]
    [alert] = _alerts(platform, "bill_hash_mismatch")
    assert (alert["account_id"], alert["date"], alert["bill"]) == (account["id"], DAY.isoformat(), "fundflow")
    assert _job(platform, account["id"]) is None  # the knob is spent: the next download is good
    assert _run(merchant, account["id"])["fundflow"]["status"] == "agreed"
    assert len(_alerts(platform, "bill_hash_mismatch")) == 1


def test_a_fundflow_bill_not_published_yet_is_retried(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("wechatpay")
    trade_day(platform, merchant, "wechatpay")
    set_sandbox_clock(platform, "wechatpay", beijing(DAY + timedelta(days=1), 8))  # before the 09:00 publishing
    before = platform.runtime.ctx.clock.now()
    retry = _job(platform, account["id"])
    assert isinstance(retry, RetryLater) and retry.reason.startswith("fundflow bill not ready")
    assert before + tasks.RETRY_NOT_READY <= retry.at <= platform.runtime.ctx.clock.now() + tasks.RETRY_NOT_READY
    assert _bills(platform, account["id"]) == []
    set_sandbox_clock(platform, "wechatpay", beijing(DAY + timedelta(days=1), 10))
    assert _job(platform, account["id"]) is None
    assert _run(merchant, account["id"])["fundflow"]["status"] == "agreed"


def test_an_alipay_run_has_no_fundflow_check(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("alipay")
    trade_day(platform, merchant, "alipay")
    assert _job(platform, account["id"]) is None
    run = _run(merchant, account["id"])
    assert run["fundflow"] is None and run["matched_count"] == 3
    assert _bills(platform, account["id"]) == [("trade", "fetch")]
