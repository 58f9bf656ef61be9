"""Property: any rows → write in the real format → parse → the same rows, and totals that match the summary."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indiepay.reconciliation.parsers.alipay import AlipayBillRow, read_alipay_bill_zip
from indiepay.reconciliation.parsers.wechat_fundflow import WechatFundFlowRow, read_wechat_fundflow_bill
from indiepay.reconciliation.parsers.wechat_trade import TradeBillLayout, WechatTradeBillReader, WechatTradeRow
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.wechat import render_wechat_fundflow_bill, render_wechat_trade_bill
from tests.reconciliation.factories import alipay_rows, fund_rows, wechat_trade_rows

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def layout_and_rows(draw: st.DrawFn) -> tuple[TradeBillLayout, list[WechatTradeRow]]:
    layout = draw(st.sampled_from(list(TradeBillLayout)))
    return layout, draw(st.lists(wechat_trade_rows(layout), max_size=8))


@SETTINGS
@given(layout_and_rows())
def test_wechat_trade_bill_round_trip(case: tuple[TradeBillLayout, list[WechatTradeRow]]) -> None:
    layout, rows = case
    reader = WechatTradeBillReader(render_wechat_trade_bill(rows, layout))
    assert reader.layout is layout
    parsed = list(reader)
    assert parsed == rows
    summary = reader.summary
    assert summary is not None and summary.count == len(rows)
    assert summary.settlement_total_fen == sum(r.settlement_total_fen for r in rows)
    assert summary.order_total_fen == sum(r.order_total_fen or 0 for r in rows)
    assert summary.refund_total_fen == sum(r.refund_fen or 0 for r in rows)
    assert summary.fee_total == sum((r.fee for r in rows), Decimal(0))
    assert [r.fee_fen for r in parsed] == [int((r.fee * 100).to_integral_value(rounding="ROUND_HALF_UP")) for r in rows]


@SETTINGS
@given(st.lists(fund_rows, max_size=8))
def test_wechat_fundflow_bill_round_trip(rows: list[WechatFundFlowRow]) -> None:
    parsed, summary = read_wechat_fundflow_bill(render_wechat_fundflow_bill(rows))
    assert parsed == rows
    assert summary.count == len(rows)
    assert summary.income_total_fen == sum(r.amount_fen for r in rows if r.direction == "收入")
    assert summary.expense_total_fen == sum(r.amount_fen for r in rows if r.direction == "支出")


@SETTINGS
@given(st.lists(alipay_rows(), max_size=6), st.dates(min_value=date(2015, 1, 1), max_value=date(2037, 1, 1)))
def test_alipay_bill_zip_round_trip(rows: list[AlipayBillRow], day: date) -> None:
    parsed, footer, summary = read_alipay_bill_zip(render_alipay_bill_zip(rows, pid="2088021109625633", bill_date=day))
    assert parsed == rows
    trades = [r for r in rows if r.kind == "payment"]
    assert footer.trade_count == len(trades) and footer.refund_count == len(rows) - len(trades)
    assert footer.trade_receipt_fen == sum(r.receipt_fen for r in trades)
    assert summary.total.order_amount_fen == sum(r.order_amount_fen for r in rows)
    assert summary.total.service_fee == sum((r.service_fee or Decimal(0) for r in rows), Decimal(0))
