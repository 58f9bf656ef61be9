"""Issue 4's round trip over real loopback HTTP: sandbox payments and refunds over a day → the sandbox
publishes that day's real-format bill → IndiePay fetches it through the channel client (signed request,
hash checked) and reconciles it → no differences; and each bill-corruption knob of the sandbox produces
exactly the expected difference class, no more. On WeChat Pay, Alipay and UnionPay (whose file covers its
clearing day; what is particular to that is in test_unionpay_reconciliation)."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import Any

import httpx
import pytest

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import BUSINESS_TZ, business_day
from indiepay.reconciliation import service as reconciliation
from indiepay.reconciliation.fees import FEES_JOB
from tests.support.platform import MerchantClient, PlatformUnderTest

# A closed business day two days back: its cross_day grace (3 days) outlasts a run that crosses Beijing
# midnight (three days back, a suite started at 23:58 Beijing saw the grace end mid-run).
DAY = business_day(datetime.now(UTC)) - timedelta(days=2)
METHOD = {"wechatpay": "wechat_native", "alipay": "alipay_qr", "unionpay": "unionpay_qr"}
KNOB_TARGET = {"wechatpay": "mchid", "alipay": "app_id", "unionpay": "mer_id"}
CHANNELS = ["wechatpay", "alipay", "unionpay"]


def beijing(day: date, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, clock_time(hour, minute), tzinfo=BUSINESS_TZ).astimezone(UTC).isoformat()


def set_sandbox_clock(platform: PlatformUnderTest, channel: str, instant: str) -> None:
    response = httpx.post(f"{platform.sandbox}/{channel}/_clock", json={"now": instant}, timeout=30)
    assert response.status_code < 300, response.text


def trade_day(platform: PlatformUnderTest, merchant: MerchantClient, channel: str) -> list[dict[str, Any]]:
    """Three payments (two paid, one left pending) and a partial refund, on ``DAY`` by the sandbox's clock."""
    set_sandbox_clock(platform, channel, beijing(DAY, 12))
    payments = [merchant.create_payment(METHOD[channel], amount=amount).json() for amount in (1_000, 2_550, 700)]
    for payment in payments[:2]:
        merchant.pay(payment)
        merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payments[1]["id"], "amount": 550}).json()
    merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    set_sandbox_clock(platform, channel, beijing(DAY + timedelta(days=2), 10))  # the bill is published
    return payments


def reconcile(platform: PlatformUnderTest, account_id: str, *, apply_fees: bool = True) -> reconciliation.RunResult:
    ctx = platform.runtime.ctx
    with ctx.db.read() as session:
        account = session.get(ChannelAccount, account_id)
    assert account is not None
    bill = reconciliation.fetch_bill_for(ctx, account, DAY)
    return reconciliation.reconcile_fetched(ctx, account_id, bill, apply_fees=apply_fees)


def wait_fees_applied(platform: PlatformUnderTest, run_id: str, timeout: float = 20.0) -> None:
    """Let the platform's worker run the queued fee write-back of a run, and wait for it."""
    platform.run_jobs_now(FEES_JOB)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if platform.sql("SELECT 1 FROM reconciliation_fees WHERE run_id = :run AND applied_at IS NOT NULL",
                        run=run_id):
            return
        time.sleep(0.1)
    raise AssertionError(f"the fees of {run_id} were not written back in {timeout} s")


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_clean_day_reconciles_with_no_differences(platform: PlatformUnderTest, channel: str) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account(channel)
    trade_day(platform, merchant, channel)
    result = reconcile(platform, account["id"], apply_fees=False)  # as the worker runs it: fees by the job
    assert [d.klass for d in result.differences] == []
    assert result.run.matched_count == 3  # two payments and one refund
    assert result.run.matched_amount == 1_000 + 2_550 - 550
    wait_fees_applied(platform, result.run.id)
    assert platform.sql("SELECT count(*) FROM payments WHERE channel_account_id = :account AND channel_fee IS NOT "
                        "NULL", account=account["id"]) == [(2,)]  # the bill's fees on the two paid payments
    again = reconcile(platform, account["id"])  # re-running the day changes nothing
    assert again.run.id == result.run.id and again.differences == []


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(("fault", "expected"), [("drop_row", "missing_in_channel"),
                                                 ("change_amount", "amount_mismatch"),
                                                 ("duplicate_row", "duplicate_in_bill")])
def test_each_corruption_gives_exactly_its_difference(platform: PlatformUnderTest, channel: str, fault: str,
                                                      expected: str) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account(channel)
    payments = trade_day(platform, merchant, channel)
    target = KNOB_TARGET[channel]
    knob = httpx.post(f"{platform.sandbox}/{channel}/_faults", timeout=30, json={
        target: credentials[target],
        "bill_fault": {"fault": fault, "bill_date": DAY.isoformat(), "out_trade_no": payments[0]["out_trade_no"]}})
    assert knob.status_code < 300, knob.text
    result = reconcile(platform, account["id"])
    assert [(d.klass, d.out_trade_no) for d in result.differences] == [(expected, payments[0]["out_trade_no"])]


def test_a_bill_with_a_wrong_hash_is_rejected(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("wechatpay")
    trade_day(platform, merchant, "wechatpay")
    httpx.post(f"{platform.sandbox}/wechatpay/_faults", timeout=30, json={
        "mchid": credentials["mchid"], "bill_fault": {"fault": "wrong_hash", "bill_date": DAY.isoformat()}})
    from indiepay.channels.base import BillHashMismatch

    with pytest.raises(BillHashMismatch):
        reconcile(platform, account["id"])


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_bill_of_another_account_is_refused_and_nothing_stored(platform: PlatformUnderTest, channel: str) -> None:
    merchant = platform.merchant()
    mine, _ = merchant.own_sandbox_account(channel)
    trade_day(platform, merchant, channel)  # every payment on the only account
    other, _ = merchant.own_sandbox_account(channel)  # another merchant number at the same channel
    ctx = platform.runtime.ctx
    with ctx.db.read() as session:
        account = session.get(ChannelAccount, mine["id"])
    assert account is not None
    bill = reconciliation.fetch_bill_for(ctx, account, DAY)
    uploaded = merchant.api.post("/v1/reconciliation/bills", params={"account_id": other["id"],
                                                                     "date": DAY.isoformat()},
                                 content=bill.content_gz or bill.content)
    assert uploaded.status_code == 422 and uploaded.json()["error"]["code"] == "bill_account_mismatch", uploaded.text
    assert platform.sql("SELECT count(*) FROM reconciliation_bills WHERE account_id = :a", a=other["id"]) == [(0,)]
    assert platform.sql("SELECT count(*) FROM reconciliation_runs WHERE account_id = :a", a=other["id"]) == [(0,)]
