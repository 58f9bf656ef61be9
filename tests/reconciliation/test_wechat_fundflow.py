"""WeChat Pay fund-flow bill (资金账单): typed rows, summary checks, round trips, malformed files."""

from __future__ import annotations

from datetime import datetime

import pytest

from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.wechat_fundflow import WechatFundFlowBillReader, read_wechat_fundflow_bill
from indiepay.reconciliation.writers.wechat import render_wechat_fundflow_bill
from tests.reconciliation.factories import SH, fund_row

BILL = (
    "\ufeff记账时间,微信支付业务单号,资金流水单号,业务名称,业务类型,收支类型,收支金额(元),账户结余(元),资金变更提交申请人,"
    "备注,业务凭证号\r\n"
    "`2024-05-01 10:00:03,`4200002024050112345678901234,`1900000109202405011000000001,`交易,`交易,`收入,`19.90,"
    "`119.90,`,`,`\r\n"
    "`2024-05-01 10:00:03,`4200002024050112345678901234,`1900000109202405011000000002,`交易,`扣除交易手续费,`支出,"
    "`0.12,`119.78,`,`手续费,`\r\n"
    "`2024-05-01 14:30:00,`50300807172024050106006664916,`1900000109202405011430000003,`退款,`退款,`支出,`5.00,"
    "`114.78,`1900000109API,`退款总金额5.00元;含手续费0.03元,`re_2\r\n"
    "资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额\r\n"
    "`3,`1,`19.90,`2,`5.12\r\n"
)


def code_of(data: bytes) -> str:
    with pytest.raises(BillError) as info:
        read_wechat_fundflow_bill(data)
    return info.value.code


def test_a_fund_flow_bill_parses_to_typed_rows_checked_against_its_summary() -> None:
    rows, summary = read_wechat_fundflow_bill(BILL.encode())
    assert [(r.direction, r.amount_fen, r.signed_amount_fen, r.balance_fen) for r in rows] == [
        ("收入", 1990, 1990, 11990), ("支出", 12, -12, 11978), ("支出", 500, -500, 11478)]
    assert rows[0].booked_at == datetime(2024, 5, 1, 10, 0, 3, tzinfo=SH)
    assert (rows[1].business_type, rows[1].note) == ("扣除交易手续费", "手续费")
    assert (rows[2].applicant, rows[2].voucher_no, rows[2].line_no) == ("1900000109API", "re_2", 4)
    assert (summary.count, summary.income_count, summary.income_total_fen) == (3, 1, 1990)
    assert (summary.expense_count, summary.expense_total_fen) == (2, 512)


def test_full_width_parentheses_in_column_names_are_accepted() -> None:
    rows, _ = read_wechat_fundflow_bill(BILL.replace("(元)", "（元）").encode())
    assert len(rows) == 3


def test_round_trip_with_chinese_text() -> None:
    rows = [fund_row(1, note="退款总金额5.00元;含手续费0.03元", business_name="退款", direction="支出", amount_fen=500),
            fund_row(2, applicant="商户, \"API\""), fund_row(3, direction="支出", amount_fen=0, balance_fen=-7)]
    data = render_wechat_fundflow_bill(rows)
    assert data.startswith(b"\xef\xbb\xbf") and data.endswith(b"\r\n")
    reader = WechatFundFlowBillReader(data)
    assert list(reader) == rows
    assert reader.summary is not None and (reader.summary.income_count, reader.summary.expense_total_fen) == (1, 500)


def test_malformed_fund_flow_bills_have_stable_codes() -> None:
    data = BILL.encode()
    assert code_of(data[: data.index("资金流水总笔数".encode())]) == "bill_malformed"  # missing summary
    assert code_of(data.replace(b"`5.00,", b"`5.01,", 1)) == "bill_totals_mismatch"
    assert code_of(data.replace(b"`5.00,", b"`5.001,", 1)) == "bill_amount_invalid"
    assert code_of(data.replace("`收入".encode(), "`转入".encode(), 1)) == "bill_malformed"
    assert code_of(data.replace(b",`re_2", b"", 1)) == "bill_malformed"  # wrong column count
    assert code_of(b"") == "bill_empty"
    assert code_of(data.replace("`交易".encode(), "`交易".encode("gbk"), 1)) == "bill_encoding_invalid"
    assert code_of(data.replace(",支出金额".encode(), b"", 1)) == "bill_malformed"  # summary lacks a column
    assert code_of(data.replace(b"`3,`1,", b"`4,`1,", 1)) == "bill_totals_mismatch"  # count
