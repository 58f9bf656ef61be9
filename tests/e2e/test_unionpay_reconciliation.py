"""UnionPay's daily file over real loopback HTTP: its day is the *clearing* day, 23:00 the evening before to
23:00 Beijing time, so payments made after 23:00 are reconciled with the next day's file — without a
difference on either day — and a payment the channel books across that boundary is held as ``cross_day``
and matched when the neighbouring file arrives. The round trip shared with the other channels (a clean
day, each corruption knob) is in test_reconciliation_round_trip."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from indiepay.reconciliation import tasks
from tests.e2e.test_reconciliation_round_trip import DAY, beijing, reconcile, set_sandbox_clock
from tests.support.platform import MerchantClient, PlatformUnderTest


def pay_at(platform: PlatformUnderTest, merchant: MerchantClient, instant: str, amount: int) -> dict[str, Any]:
    """A UnionPay QR payment the sandbox buyer pays at ``instant`` of the gateway's clock."""
    set_sandbox_clock(platform, "unionpay", instant)
    payment = merchant.create_payment("unionpay_qr", amount=amount).json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def reconcile_day(platform: PlatformUnderTest, account_id: str, offset: int) -> Any:
    from indiepay.accounts.models import ChannelAccount
    from indiepay.reconciliation import service

    ctx = platform.runtime.ctx
    with ctx.db.read() as session:
        account = session.get(ChannelAccount, account_id)
    assert account is not None
    bill = service.fetch_bill_for(ctx, account, DAY + timedelta(days=offset))
    return service.reconcile_fetched(ctx, account_id, bill)


def test_payments_after_23_00_belong_to_the_next_clearing_day(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("unionpay")
    pay_at(platform, merchant, beijing(DAY, 12), 1_000)
    pay_at(platform, merchant, beijing(DAY, 23, 30), 2_000)
    pay_at(platform, merchant, beijing(DAY + timedelta(days=1), 9), 3_000)
    set_sandbox_clock(platform, "unionpay", beijing(DAY + timedelta(days=3), 10))  # both files published
    first = reconcile(platform, account["id"])
    assert first.differences == [] and (first.run.matched_count, first.run.matched_amount) == (1, 1_000)
    second = reconcile_day(platform, account["id"], 1)
    assert second.differences == [] and (second.run.matched_count, second.run.matched_amount) == (2, 5_000)


def test_a_payment_booked_across_the_23_00_boundary_is_held_then_matched(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, credentials = merchant.own_sandbox_account("unionpay")
    pay_at(platform, merchant, beijing(DAY, 12), 1_000)
    edge = pay_at(platform, merchant, beijing(DAY, 22, 55), 4_200)  # 5 minutes before the day closes
    set_sandbox_clock(platform, "unionpay", beijing(DAY + timedelta(days=3), 10))
    knob = httpx.post(f"{platform.sandbox}/unionpay/_faults", timeout=30, json={
        "mer_id": credentials["mer_id"], "bill_fault": {"fault": "shift_across_midnight", "bill_date": DAY.isoformat(),
                                                        "out_trade_no": edge["out_trade_no"]}})
    assert knob.status_code < 300, knob.text
    held = reconcile(platform, account["id"])  # the edge payment moved to the next clearing day's file
    assert [(d.klass, d.out_trade_no, d.status) for d in held.differences] == [
        ("cross_day", edge["out_trade_no"], "open")]
    next_day = reconcile_day(platform, account["id"], 1)  # its arrival settles the held difference
    assert next_day.differences == [] and next_day.run.matched_amount == 4_200
    assert platform.sql("SELECT status FROM reconciliation_differences WHERE out_trade_no = :no",
                        no=edge["out_trade_no"]) == [("resolved",)]


def test_the_daily_job_reconciles_unionpay_accounts(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account, _ = merchant.own_sandbox_account("unionpay")
    pay_at(platform, merchant, beijing(DAY, 12), 1_000)
    set_sandbox_clock(platform, "unionpay", beijing(DAY + timedelta(days=3), 10))
    ctx = platform.runtime.ctx
    assert tasks.run_day_job(ctx, {"date": DAY.isoformat(), "account_id": account["id"]}) is None
    assert platform.sql("SELECT matched_count, open_differences FROM reconciliation_runs WHERE account_id = :a",
                        a=account["id"]) == [(1, 0)]
