"""The WeChat Pay sandbox publishes real-format bills of what it saw; the adapter fetches and checks them.

Everything runs over loopback HTTP: payments and refunds through the real adapter at a chosen (frozen)
sandbox time, then the clock moves to the next morning and ``adapter.fetch_bill`` downloads the bill,
which the existing parsers read and check against the bill's own summary.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal

import pytest
from wechat_bill_support import DAY, BillSandbox, beijing, neutral, trade_rows

from indiepay.channels.base import BillFile, BillHashMismatch, BillKindUnsupported, BillNotReady
from indiepay.channels.wechatpay import WechatPayAdapter
from indiepay.reconciliation.parsers.wechat_fundflow import EXPENSE, INCOME, read_wechat_fundflow_bill
from indiepay.reconciliation.parsers.wechat_trade import read_wechat_trade_bill

NEXT_MORNING = beijing(DAY + timedelta(days=1), 9, 30)


def test_round_trip_trade_and_fundflow_bills(bills: BillSandbox) -> None:
    mchid, adapter = bills.merchant()
    bills.clock(beijing(DAY - timedelta(days=1), 22))
    yesterday = bills.pay(adapter, 800)
    bills.clock(beijing(DAY, 0, 0, 0))
    first = bills.pay(adapter, 1000)
    bills.clock(beijing(DAY, 12, 30))
    second = bills.pay(adapter, 2590)
    tiny = bills.pay(adapter, 1)
    bills.clock(beijing(DAY, 23, 59, 59))
    partial = bills.refund(adapter, first, 300, 1000)
    old_refund = bills.refund(adapter, yesterday, 800, 800)
    bills.clock(NEXT_MORNING)

    bill = adapter.fetch_bill("trade", DAY)
    assert (bill.channel, bill.kind, bill.bill_date) == ("wechatpay", "trade", DAY)
    assert bill.sha1 == hashlib.sha1(bill.content).hexdigest()
    rows, summary = read_wechat_trade_bill(bill.content)
    seen = {(row.kind, row.out_trade_no, row.out_refund_no, row.amount_fen, row.fee) for row in rows}
    assert seen == {
        ("payment", first, None, 1000, Decimal("0.06000")),
        ("payment", second, None, 2590, Decimal("0.15540")),
        ("payment", tiny, None, 1, Decimal("0.00006")),
        ("refund", first, partial, 300, Decimal("-0.01800")),
        ("refund", yesterday, old_refund, 800, Decimal("-0.04800")),
    }
    assert {row.mch_id for row in rows} == {mchid} and {row.rate for row in rows} == {"0.60%"}
    assert summary.count == 5 and summary.settlement_total_fen == 3591 and summary.refund_total_fen == 1100
    assert summary.fee_total == Decimal("0.14946")
    assert rows[0].out_trade_no == first and rows[0].trade_time == beijing(DAY, 0, 0, 0)
    assert adapter.fetch_bill("trade", DAY).content == bill.content  # a day's bill is stable

    flow, flow_summary = read_wechat_fundflow_bill(adapter.fetch_bill("fundflow", DAY).content)
    income = sum(row.amount_fen for row in flow if row.direction == INCOME)
    expense = sum(row.amount_fen for row in flow if row.direction == EXPENSE)
    assert (flow_summary.income_total_fen, flow_summary.expense_total_fen) == (income, expense)
    assert income == 1000 + 2590 + 1 + 2 + 5 and expense == 6 + 16 + 300 + 800  # fees rounded to fen
    assert flow[-1].balance_fen == 800 - 5 + income - expense  # carried over from the day before
    assert trade_rows(adapter, DAY - timedelta(days=1))[0].out_trade_no == yesterday


def test_not_ready_until_the_day_ends_and_the_publishing_hour(bills: BillSandbox) -> None:
    _, adapter = bills.merchant()
    bills.clock(beijing(DAY, 10))
    bills.pay(adapter, 100)
    bills.clock(beijing(DAY, 23, 59, 59))
    with pytest.raises(BillNotReady) as running:
        adapter.fetch_bill("trade", DAY)
    assert running.value.channel_code == "NO_STATEMENT_EXIST" and running.value.code == "bill_not_ready"
    bills.clock(beijing(DAY + timedelta(days=1), 8, 59, 59))
    with pytest.raises(BillNotReady) as generating:
        adapter.fetch_bill("fundflow", DAY)
    assert generating.value.channel_code == "STATEMENT_CREATING"
    bills.clock(beijing(DAY + timedelta(days=1), 9))
    assert len(trade_rows(adapter)) == 1
    bills.clock(beijing(DAY + timedelta(days=40), 15))  # any past day can be asked for later
    assert len(trade_rows(adapter)) == 1
    assert trade_rows(adapter, DAY + timedelta(days=2)) == []  # a quiet day has an empty bill


def test_wrong_hash_is_rejected_once(bills: BillSandbox) -> None:
    mchid, adapter = bills.merchant()
    bills.clock(beijing(DAY, 10))
    bills.pay(adapter, 100)
    bills.clock(NEXT_MORNING)
    bills.bill_fault(mchid, fault="wrong_hash", bill_date=DAY.isoformat())
    with pytest.raises(BillHashMismatch) as rejected:
        adapter.fetch_bill("trade", DAY)
    assert rejected.value.code == "bill_hash_mismatch" and rejected.value.channel_code == "HASH_MISMATCH"
    assert isinstance(adapter.fetch_bill("trade", DAY), BillFile)
    assert bills.http.get(f"{bills.base_url}/_faults", params={"mchid": mchid}).json()["bill_faults_applied"]


def test_unknown_bill_kind(bills: BillSandbox) -> None:
    _, adapter = bills.merchant()
    with pytest.raises(BillKindUnsupported):
        adapter.fetch_bill("settlement", DAY)


def _day_with_three_rows(bills: BillSandbox) -> tuple[str, WechatPayAdapter, str, str, str]:
    mchid, adapter = bills.merchant()
    bills.clock(beijing(DAY, 9))
    first = bills.pay(adapter, 1000)
    second = bills.pay(adapter, 2000)
    refund = bills.refund(adapter, second, 500, 2000)
    bills.clock(NEXT_MORNING)
    return mchid, adapter, first, second, refund


@pytest.mark.parametrize("fault", ["drop_row", "duplicate_row", "change_amount"])
def test_row_knobs_change_exactly_one_row(bills: BillSandbox, fault: str) -> None:
    mchid, adapter, _, second, _ = _day_with_three_rows(bills)
    clean = neutral(trade_rows(adapter))
    bills.bill_fault(mchid, fault=fault, bill_date=DAY.isoformat(), out_trade_no=second, amount_delta_fen=7)
    corrupted = neutral(trade_rows(adapter))
    target = next(row for row in clean if row.out_trade_no == second and row.kind == "payment")
    removed, added = clean - corrupted, corrupted - clean
    if fault == "drop_row":
        assert (removed, added) == ({target: 1}, {})
    elif fault == "duplicate_row":
        assert (removed, added) == ({}, {target: 1})
    else:
        assert (removed, added) == ({target: 1}, {target._replace(amount_fen=2007): 1})
    assert neutral(trade_rows(adapter)) == clean  # the knob was used up by one fetch


def test_change_amount_of_a_refund_row_and_default_target(bills: BillSandbox) -> None:
    mchid, adapter, first, _, refund = _day_with_three_rows(bills)
    clean = neutral(trade_rows(adapter))
    bills.bill_fault(mchid, fault="change_amount", out_refund_no=refund, amount_delta_fen=-1)
    bills.bill_fault(mchid, fault="drop_row")  # no target given: the day's first payment row
    changed = neutral(trade_rows(adapter))
    assert {row.out_refund_no: row.amount_fen for row in clean - changed} == {refund: 500, "": 1000}
    assert [(row.out_refund_no, row.amount_fen) for row in changed - clean] == [(refund, 499)]
    assert not any(row.out_trade_no == first and row.kind == "payment" for row in changed)


def test_knob_for_another_day_or_bill_waits(bills: BillSandbox) -> None:
    mchid, adapter, *_ = _day_with_three_rows(bills)
    clean = neutral(trade_rows(adapter))
    bills.bill_fault(mchid, fault="drop_row", bill_date=(DAY - timedelta(days=1)).isoformat())
    bills.bill_fault(mchid, fault="drop_row", bill="fundflow")
    assert neutral(trade_rows(adapter)) == clean
    flow_clean, _ = read_wechat_fundflow_bill(adapter.fetch_bill("fundflow", DAY + timedelta(days=-2)).content)
    assert flow_clean == []  # consumed by a fetch of an empty day: nothing to drop
    pending = bills.http.get(f"{bills.base_url}/_faults", params={"mchid": mchid}).json()["faults"]["bill_faults"]
    assert [fault["bill_date"] for fault in pending] == [(DAY - timedelta(days=1)).isoformat()]


def test_shift_across_midnight_moves_the_payment_to_the_next_days_bill(bills: BillSandbox) -> None:
    mchid, adapter, first, second, _ = _day_with_three_rows(bills)
    clean = neutral(trade_rows(adapter))
    bills.bill_fault(mchid, fault="shift_across_midnight", out_trade_no=first)
    shifted = neutral(trade_rows(adapter))
    moved = next(row for row in clean if row.out_trade_no == first)
    assert (clean - shifted, shifted - clean) == ({moved: 1}, {})
    with pytest.raises(BillNotReady):  # the next day's bill does not exist yet
        adapter.fetch_bill("trade", DAY + timedelta(days=1))
    bills.clock(beijing(DAY + timedelta(days=2), 9, 30))
    next_day = trade_rows(adapter, DAY + timedelta(days=1))
    assert [(row.out_trade_no, row.trade_time) for row in next_day] == [(first, beijing(DAY + timedelta(days=1), 0))]
    bills.bill_fault(mchid, fault="shift_across_midnight", out_trade_no=second, direction="previous")
    assert {row.out_trade_no for row in trade_rows(adapter)} == {second}  # its refund row stays
    assert [row.out_trade_no for row in trade_rows(adapter, DAY - timedelta(days=1))] == [second]


def test_bill_fault_and_clock_validation(bills: BillSandbox) -> None:
    mchid, _ = bills.merchant()
    for fault in ({"fault": "explode"}, {"fault": "drop_row", "bill_date": "20240501"},
                  {"fault": "change_amount", "amount_delta_fen": 0}, {"fault": "drop_row", "colour": "red"}):
        response = bills.http.post(f"{bills.base_url}/_faults", json={"mchid": mchid, "bill_fault": fault})
        assert response.status_code == 400, fault
    assert bills.http.post(f"{bills.base_url}/_clock", json={"now": "2024-05-01T10:00:00"}).status_code == 400
    view = bills.http.post(f"{bills.base_url}/_clock", json={"offset_seconds": -86400}).json()
    assert view["offset_seconds"] == -86400 and view["frozen"] is False
    assert bills.http.delete(f"{bills.base_url}/_clock").json()["offset_seconds"] == 0
