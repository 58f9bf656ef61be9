"""The normalised CSV the columnar matcher loads: fixed columns, UTC times, signs made uniform."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.alipay import parse_alipay_bill_zip
from indiepay.reconciliation.parsers.normalised import (
    COLUMNS,
    NormalisedRow,
    normalise,
    read_normalised_csv,
    write_normalised_csv,
)
from indiepay.reconciliation.parsers.wechat_trade import parse_wechat_trade_bill
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from tests.reconciliation.factories import WECHAT_SAMPLE, alipay_row


def test_the_real_wechat_bill_normalises_to_45_lines() -> None:
    out = io.StringIO(newline="")
    assert write_normalised_csv(parse_wechat_trade_bill(WECHAT_SAMPLE.read_bytes()), out) == 45
    lines = out.getvalue().split("\n")
    assert lines[0] == ",".join(COLUMNS) and len(lines) == 47 and lines[-1] == ""
    rows = list(read_normalised_csv(out.getvalue().splitlines(keepends=True)))
    assert rows[0] == NormalisedRow(
        channel="wechatpay", kind="refund", out_trade_no="autotest_20190216081946_82335",
        transaction_id="4200000263201902167700134212", out_refund_no="REF4200000263201902167700963919",
        refund_id="50000709672019011908420787722", amount_fen=1, fee_fen=0, currency="CNY",
        trade_time_utc=datetime(2019, 2, 18, 21, 1, 46, tzinfo=UTC), state="SUCCESS", line_no=2)
    payment = rows[2]
    assert (payment.kind, payment.out_refund_no, payment.refund_id, payment.amount_fen, payment.fee_fen) == (
        "payment", "", "", 3, 1)
    assert "2019-02-18T17:52:32Z" in lines[3]  # 01:52:32 Beijing time
    assert sum(r.amount_fen for r in rows if r.kind == "payment") == 47
    assert sum(r.amount_fen for r in rows if r.kind == "refund") == 14


def test_alipay_rows_get_positive_refund_amounts_and_charged_fees_positive() -> None:
    data = render_alipay_bill_zip(
        [alipay_row(1, service_fee=Decimal("-0.12")),
         alipay_row(1, refund=True, order_amount_fen=-500, receipt_fen=-500, service_fee=Decimal("0.03"))],
        pid="2088021109625633", bill_date=date(2024, 5, 1))
    payment, refund = (normalise(row) for row in parse_alipay_bill_zip(data))
    assert (payment.channel, payment.kind, payment.amount_fen, payment.fee_fen, payment.state) == (
        "alipay", "payment", 1990, 12, "SUCCESS")
    assert (refund.kind, refund.amount_fen, refund.fee_fen, refund.out_refund_no, refund.refund_id) == (
        "refund", 500, -3, "re_1", "")
    assert refund.trade_time_utc == datetime(2024, 5, 1, 1, 0, 6, tzinfo=UTC)  # 完成时间 09:00:06 Beijing


def test_a_bill_that_fails_its_check_fails_the_normalised_write() -> None:
    broken = WECHAT_SAMPLE.read_bytes().replace(b"`45.0,", b"`44.0,")
    with pytest.raises(BillError) as info:
        write_normalised_csv(parse_wechat_trade_bill(broken), io.StringIO())
    assert info.value.code == "bill_totals_mismatch"


def test_output_is_identical_whatever_the_server_timezone() -> None:
    script = ("import sys\nfrom indiepay.reconciliation.parsers.normalised import write_normalised_csv\n"
              "from indiepay.reconciliation.parsers.wechat_trade import parse_wechat_trade_bill\n"
              "write_normalised_csv(parse_wechat_trade_bill(open(sys.argv[1], 'rb')), sys.stdout)\n")
    outputs = {zone: subprocess.run([sys.executable, "-c", script, str(WECHAT_SAMPLE)], capture_output=True,
                                    check=True, env={**os.environ, "TZ": zone}).stdout
               for zone in ("UTC", "Asia/Shanghai", "America/New_York")}
    assert len(set(outputs.values())) == 1 and outputs["UTC"].count(b"\n") == 46
