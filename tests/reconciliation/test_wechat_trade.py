"""WeChat Pay trade bill: the real ALL bill from ../shared/samples, the three layouts, malformed files."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import pytest

from indiepay.core.errors import IndiePayError
from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.wechat_trade import (
    TradeBillLayout,
    WechatTradeBillReader,
    parse_wechat_trade_bill,
    read_wechat_trade_bill,
)
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from tests.reconciliation.factories import SH, WECHAT_SAMPLE, wechat_payment, wechat_refund


@pytest.fixture(scope="module")
def sample() -> bytes:
    return WECHAT_SAMPLE.read_bytes()


def code_of(data: bytes) -> str:
    with pytest.raises(BillError) as info:
        read_wechat_trade_bill(data)
    assert isinstance(info.value, IndiePayError) and info.value.http_status == 422
    return info.value.code


# the real bill ---------------------------------------------------------------------------------------------

def test_real_bill_parses_to_45_rows_whose_totals_equal_its_summary_row(sample: bytes) -> None:
    assert sample.startswith(b"\xef\xbb\xbf") and b"\r\n" in sample  # BOM + CRLF, as WeChat Pay writes it
    rows, summary = read_wechat_trade_bill(sample)

    assert len(rows) == 45
    # the summary row of the file: `45.0,`0.47,`0.14,`0.0,`0.08,`0.47,`0.14
    assert summary.count == 45
    assert summary.settlement_total_fen == 47
    assert summary.refund_total_fen == 14
    assert summary.recharge_coupon_refund_total_fen == 0
    assert summary.fee_total == Decimal("0.08")
    assert summary.order_total_fen == 47
    assert summary.refund_requested_total_fen == 14
    # ... and the rows add up to it, independently of the reader's own check
    assert sum(r.settlement_total_fen for r in rows) == 47
    assert sum(r.refund_fen or 0 for r in rows) == 14
    assert sum(r.recharge_coupon_refund_fen or 0 for r in rows) == 0
    assert sum((r.fee for r in rows), Decimal(0)) == Decimal("0.08000")
    assert sum(r.order_total_fen or 0 for r in rows) == 47
    assert sum(r.refund_requested_fen or 0 for r in rows) == 14


def test_real_bill_rows_are_typed(sample: bytes) -> None:
    reader = WechatTradeBillReader(sample)
    assert reader.layout is TradeBillLayout.ALL and reader.columns == 27
    rows = list(reader)
    assert sum(r.kind == "refund" for r in rows) == 14 and sum(r.kind == "payment" for r in rows) == 31

    refund = rows[0]
    assert refund.trade_time == datetime(2019, 2, 19, 5, 1, 46, tzinfo=SH)
    assert refund.trade_time.utcoffset() is not None and refund.event_time == refund.trade_time
    assert (refund.app_id, refund.mch_id, refund.sub_mch_id, refund.device) == (
        "wxab8acd895ab1638a", "1921000401", None, "harryma007")
    assert refund.transaction_id == "4200000263201902167700134212"
    assert refund.out_trade_no == "autotest_20190216081946_82335"
    assert (refund.trade_type, refund.trade_state, refund.bank, refund.currency) == ("JSAPI", "REFUND", "OTHERS", "CNY")
    assert refund.refund_id == "50000709672019011908420787722"
    assert refund.out_refund_no == "REF4200000263201902167700963919"
    assert (refund.refund_fen, refund.refund_requested_fen, refund.amount_fen) == (1, 1, 1)
    assert (refund.refund_type, refund.refund_status, refund.state) == ("ORIGINAL", "SUCCESS", "SUCCESS")
    assert refund.product == "系统拨测-cheeryin-test_micropay_succ" and refund.attach == ""
    assert (refund.fee, refund.fee_fen, refund.rate, refund.rate_note) == (Decimal("0"), 0, "39.00%", None)

    payment = rows[2]  # `2019-02-19 01:52:32 … NATIVE, SUCCESS, 0.03, fee 0.01000
    assert payment.kind == "payment" and payment.device is None
    assert (payment.refund_id, payment.out_refund_no, payment.refund_type) == (None, None, None)
    assert (payment.settlement_total_fen, payment.order_total_fen, payment.amount_fen) == (3, 3, 3)
    assert payment.fee == Decimal("0.01000") and payment.fee_fen == 1
    assert rows[-1].coupon_fen == 1 and rows[-1].line_no == 46


def test_writer_reproduces_the_real_bill_line_for_line(sample: bytes) -> None:
    rows, _ = read_wechat_trade_bill(sample)
    written = render_wechat_trade_bill(rows)
    original_lines, written_lines = sample.split(b"\r\n"), written.split(b"\r\n")
    # BOM + header, all 45 detail rows and the summary header are byte-identical; the summary row prints
    # `45 / `0.00 / `0.08000 where the real file has `45.0 / `0.0 / `0.08 — both parse to the same totals.
    assert len(written_lines) == len(original_lines) == 49
    assert written_lines[:47] == original_lines[:47]
    assert written_lines[47] == b"`45,`0.47,`0.14,`0.00,`0.08000,`0.47,`0.14"
    assert read_wechat_trade_bill(written)[1] == read_wechat_trade_bill(sample)[1]


def test_rows_stream_lazily_and_the_check_runs_at_the_end(sample: bytes) -> None:
    broken = sample.replace(b"`45.0,`0.47", b"`45.0,`0.48")
    rows = parse_wechat_trade_bill(broken)
    first = next(rows)  # rows come before the summary has been read
    assert first.out_trade_no == "autotest_20190216081946_82335"
    with pytest.raises(BillError) as info:
        list(rows)
    assert info.value.code == "bill_totals_mismatch"
    assert info.value.details["mismatches"] == [{"field": "应结订单总金额", "printed": "0.48", "computed": "0.47"}]


def test_a_reader_is_single_use(sample: bytes) -> None:
    reader = WechatTradeBillReader(sample)
    list(reader)
    with pytest.raises(RuntimeError):
        iter(reader)


# layouts ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("layout", list(TradeBillLayout))
def test_each_layout_round_trips_with_chinese_text_refunds_and_five_decimal_fees(layout: TradeBillLayout) -> None:
    payment = wechat_payment(1, product="测试商品，含逗号,和\"引号\"", attach="备注 attach", fee=Decimal("0.01194"),
                             sub_mch_id="1900000110", device="门店-01", rate_note="优惠费率")
    refund = wechat_refund(2, refund_requested_at=datetime(2024, 5, 1, 11, 0, tzinfo=SH),
                           refund_succeeded_at=datetime(2024, 5, 1, 11, 0, 3, tzinfo=SH))
    if layout is TradeBillLayout.SUCCESS:
        rows = [replace(payment, refund_fen=None, recharge_coupon_refund_fen=None, refund_requested_fen=None)]
    elif layout is TradeBillLayout.REFUND:
        rows = [refund]
    else:
        rows = [payment, wechat_refund(2)]
    data = render_wechat_trade_bill(rows, layout)
    reader = WechatTradeBillReader(data)
    assert reader.layout is layout
    assert list(reader) == rows
    assert reader.summary is not None and reader.summary.count == len(rows)
    assert reader.summary.fee_total == sum((r.fee for r in rows), Decimal(0))


def test_refund_layout_uses_the_refund_success_time_as_the_event_time() -> None:
    refund = wechat_refund(3, refund_requested_at=datetime(2024, 5, 2, 0, 0, 1, tzinfo=SH),
                           refund_succeeded_at=datetime(2024, 5, 2, 0, 0, 4, tzinfo=SH))
    rows, _ = read_wechat_trade_bill(render_wechat_trade_bill([refund], TradeBillLayout.REFUND))
    assert rows[0].kind == "refund" and rows[0].event_time == datetime(2024, 5, 2, 0, 0, 4, tzinfo=SH)


def test_older_column_names_map_onto_todays() -> None:
    bill = ("\ufeff交易时间,公众账号ID,商户号,子商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,"
            "付款银行,货币种类,总金额,代金券或立减优惠金额,商品名称,商户数据包,手续费,费率\r\n"
            "`2014-11-10 16:33:45,`wx2421b1c4370ec43b,`10000100,`0,`1000,`1001690740201411100005734289,"
            "`1415640626,`085e9858e3ba5186aafcbaed1,`MICROPAY,`SUCCESS,`CFT,`CNY,`0.01,`0.0,`被扫支付测试,"
            "`订单额外描述,`0,`0.60%\r\n"
            "总交易单数,总交易额,总退款金额,总代金券或立减优惠退款金额,手续费总金额\r\n`1,`0.01,`0.0,`0.0,`0\r\n")
    reader = WechatTradeBillReader(bill.encode())
    rows = list(reader)
    assert reader.layout is TradeBillLayout.SUCCESS
    assert (rows[0].settlement_total_fen, rows[0].coupon_fen, rows[0].sub_mch_id, rows[0].order_total_fen) == (
        1, 0, None, None)
    assert rows[0].amount_fen == 1 and reader.summary is not None and reader.summary.order_total_fen is None


def test_fee_total_printed_with_fewer_decimals_is_compared_within_half_a_unit() -> None:
    rows = [wechat_payment(1, fee=Decimal("0.00400")), wechat_payment(2, fee=Decimal("0.00400"))]
    data = render_wechat_trade_bill(rows)
    assert b"`0.00800," in data
    read_wechat_trade_bill(data.replace(b"`0.00800,", b"`0.01,"))  # 0.008 prints as 0.01: accepted
    with pytest.raises(BillError) as info:
        read_wechat_trade_bill(data.replace(b"`0.00800,", b"`0.00,"))  # 0.008 is not 0.00
    assert info.value.code == "bill_totals_mismatch"
    with pytest.raises(BillError):
        read_wechat_trade_bill(data.replace(b"`0.00800,", b"`0.00801,"))  # same precision: exact


# malformed files -------------------------------------------------------------------------------------------

def test_missing_summary_is_malformed(sample: bytes) -> None:
    truncated = sample[: sample.index("总交易单数".encode())]
    assert code_of(truncated) == "bill_malformed"
    assert code_of(sample[: sample.rindex(b"`45.0")]) == "bill_malformed"  # summary header, no summary row


def test_a_changed_amount_makes_the_totals_disagree(sample: bytes) -> None:
    changed = sample.replace(b"`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.03,", b"`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.04,", 1)
    assert changed != sample
    assert code_of(changed) == "bill_totals_mismatch"


def test_a_changed_fee_or_a_dropped_row_makes_the_totals_disagree(sample: bytes) -> None:
    assert code_of(sample.replace(b"`0.01000,", b"`0.02000,", 1)) == "bill_totals_mismatch"
    lines = sample.split(b"\r\n")
    assert code_of(b"\r\n".join(lines[:5] + lines[6:])) == "bill_totals_mismatch"
    assert code_of(b"\r\n".join(lines[:5] + lines[5:6] + lines[5:])) == "bill_totals_mismatch"  # duplicated row


def test_a_non_fen_amount_is_refused(sample: bytes) -> None:
    assert code_of(sample.replace(b"`CNY,`0.03,", b"`CNY,`0.035,", 1)) == "bill_amount_invalid"
    assert code_of(sample.replace(b"`CNY,`0.03,", b"`CNY,`3e-2,", 1)) == "bill_amount_invalid"
    assert code_of(sample.replace(b"`0.01000,", b"`abc,", 1)) == "bill_amount_invalid"


def test_wrong_column_count_is_malformed(sample: bytes) -> None:
    assert code_of(sample.replace(b",`39.00%,", b",", 1)) == "bill_malformed"
    assert code_of(sample.replace(b",`39.00%,", b",`39.00%,`x,", 1)) == "bill_malformed"


def test_empty_files_are_refused() -> None:
    assert code_of(b"") == "bill_empty"
    assert code_of(b"\xef\xbb\xbf\r\n\r\n") == "bill_empty"


def test_bytes_that_are_not_utf8_are_refused(sample: bytes) -> None:
    assert code_of(sample.replace("系统拨测".encode(), "系统拨测".encode("gbk"), 1)) == "bill_encoding_invalid"
    assert code_of(sample[:-3] + b"\xe4\xb8") == "bill_encoding_invalid"  # file ends inside a character


def test_other_structural_faults_are_malformed(sample: bytes) -> None:
    assert code_of(b"\xef\xbb\xbfa,b,c\r\n1,2,3\r\n") == "bill_malformed"  # not a trade bill header
    assert code_of(sample + b"`extra,`line\r\n") == "bill_malformed"  # data after the summary row
    assert code_of(sample.replace(b"`2019-02-19 05:01:46", b"`2019-02-19T05:01", 1)) == "bill_malformed"
    header = sample.split(b"\r\n")[0]
    assert code_of(sample.replace(header, header.replace("商户号".encode(), "设备号".encode(), 1), 1)) == (
        "bill_malformed")  # a column twice
    assert code_of(sample.replace(b"`45.0,`0.47", b"`45.5,`0.47")) == "bill_malformed"  # not a count
