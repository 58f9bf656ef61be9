"""UnionPay reconciliation file: the zip and its fixed-width ZM entry, the clearing day, self-checks."""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import duckdb
import pytest

from indiepay.channels.base import BillHashMismatch
from indiepay.channels.unionpay.bills import decode_file_content
from indiepay.channels.unionpay.client import file_base_url
from indiepay.core.clock import BUSINESS_TZ
from indiepay.reconciliation import bills
from indiepay.reconciliation.errors import (
    BillAmountError,
    BillArchiveError,
    BillFormatError,
    BillTotalsMismatch,
)
from indiepay.reconciliation.parsers.normalised import read_normalised_csv
from indiepay.reconciliation.parsers.unionpay import (
    LINE_BYTES,
    OFFSETS,
    UnionpayBillRow,
    entry_name,
    is_unionpay_bill_zip,
    open_unionpay_bill_zip,
    parse_unionpay_bill_zip,
)
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip, render_zm, zm_line
from tests.reconciliation.factories import alipay_row

MER = "777290058110097"
DAY = date(2027, 1, 1)


def row(kind: str = "payment", **changes: object) -> UnionpayBillRow:
    refund = kind == "refund"
    base = UnionpayBillRow(
        kind=kind, txn_type="04" if refund else "01", out_trade_no="ORDER0001",
        out_refund_no="rf0001refund" if refund else "", query_id="7" * 21 if not refund else "8" * 21,
        orig_query_id="7" * 21 if refund else "", amount_fen=500 if refund else 1_000,
        fee_fen=-3 if refund else 6, settle_fen=-497 if refund else 994,
        event_time=datetime(2027, 1, 1, 10, 0, 5, tzinfo=BUSINESS_TZ), mer_id=MER, trace_no="123456",
        card_no="6216******1234")
    return replace(base, **changes)  # type: ignore[arg-type]


def archive(zm: bytes, day: date = DAY, mer: str = MER) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr(entry_name(mer, day), zm)
        out.writestr(entry_name(mer, day, errors=True), b"")
    return buffer.getvalue()


def edit(line: bytes, field: str, value: str) -> bytes:
    start, end = OFFSETS[field]
    return line[:start] + value.encode().ljust(end - start) + line[end:]


def test_rows_come_back_as_written_with_fees_settlement_and_numbers() -> None:
    written = [row(), row("refund"), row("refund", txn_type="31", out_refund_no="cancel0001", amount_fen=1_000,
                                         fee_fen=-6, settle_fen=-994)]
    content = render_unionpay_bill_zip(written, mer_id=MER, clearing_day=DAY)
    bill = open_unionpay_bill_zip(content)
    assert (bill.mer_id, bill.clearing_day, bill.entry_name) == (MER, DAY, f"INN27010188ZM_{MER}")
    read = list(bill.rows())
    assert [(r.kind, r.txn_type, r.out_trade_no, r.out_refund_no, r.amount_fen, r.fee_fen, r.settle_fen)
            for r in read] == [("payment", "01", "ORDER0001", "", 1_000, 6, 994),
                               ("refund", "04", "ORDER0001", "rf0001refund", 500, -3, -497),
                               ("refund", "31", "ORDER0001", "cancel0001", 1_000, -6, -994)]
    assert read[1].orig_query_id == "7" * 21 and read[1].query_id == "8" * 21
    assert read[0].event_time == datetime(2027, 1, 1, 10, 0, 5, tzinfo=BUSINESS_TZ)
    assert [r.line_no for r in read] == [1, 2, 3]
    assert all(len(line.rstrip(b"\r\n")) == LINE_BYTES for line in bill.lines())


def test_a_december_transaction_in_a_january_file_keeps_its_year() -> None:
    late = row(event_time=datetime(2026, 12, 31, 23, 30, tzinfo=BUSINESS_TZ))
    [read] = parse_unionpay_bill_zip(render_unionpay_bill_zip([late], mer_id=MER, clearing_day=DAY))
    assert read.event_time == datetime(2026, 12, 31, 23, 30, tzinfo=BUSINESS_TZ)


def test_lf_line_ends_a_trailing_blank_line_and_a_trimmed_reserved_tail_are_read() -> None:
    line = zm_line(row()).rstrip()
    [read] = parse_unionpay_bill_zip(archive(line + b"\n\n"))
    assert read.amount_fen == 1_000


@pytest.mark.parametrize(("field", "value", "error"), [
    ("settle_amt", "C000000000995", BillTotalsMismatch),  # 1,000 − 6 is 994
    ("net_amt", "C000000000990", BillTotalsMismatch),
    ("txn_amt", "00000000010a", BillAmountError),
    ("mer_fee", "X000000000006", BillAmountError),
    ("txn_type", "02", BillFormatError),  # a pre-authorisation: money this platform cannot place
    ("trace_time", "1301100005", BillFormatError),
    ("order_id", "", BillFormatError),
])
def test_a_line_that_does_not_hold_together_refuses_the_file(field: str, value: str,
                                                            error: type[Exception]) -> None:
    bad = edit(zm_line(row()), field, value)
    with pytest.raises(error) as caught:
        list(parse_unionpay_bill_zip(archive(render_zm([row()]) + bad + b"\r\n")))
    assert getattr(caught.value, "details", {}).get("line") == 2


def test_lines_out_of_the_fixed_layout_are_refused() -> None:
    line = zm_line(row())
    with pytest.raises(BillFormatError):
        list(parse_unionpay_bill_zip(archive(line[:200] + b"\r\n")))
    shifted = b" " + line  # every field one byte to the right
    with pytest.raises(BillFormatError):
        list(parse_unionpay_bill_zip(archive(shifted + b"\r\n")))


def test_a_quiet_day_is_an_empty_zm_entry_and_reads_as_no_rows(tmp_path: Path) -> None:
    assert list(parse_unionpay_bill_zip(archive(b""))) == []
    read = bills.read_bill(io.BytesIO(render_unionpay_bill_zip([], mer_id=MER, clearing_day=DAY)), tmp_path / "b.csv")
    assert (read.channel, read.rows, read.first_day) == ("unionpay", 0, DAY)


def test_the_writer_refuses_a_value_wider_than_its_field() -> None:
    with pytest.raises(ValueError, match="order_id"):
        zm_line(row(out_trade_no="A" * 33))


def test_archives_without_exactly_one_zm_entry_are_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr("README.txt", b"nothing")
    with pytest.raises(BillArchiveError):
        open_unionpay_bill_zip(buffer.getvalue())
    with zipfile.ZipFile(buffer, "a") as out:
        out.writestr(entry_name(MER, DAY), render_zm([row()]))
        out.writestr(entry_name(MER, date(2027, 1, 2)), render_zm([row()]))
    with pytest.raises(BillArchiveError):
        open_unionpay_bill_zip(buffer.getvalue())
    with pytest.raises(BillArchiveError):
        open_unionpay_bill_zip(b"PK\x03\x04 truncated")


def test_read_bill_tells_a_unionpay_zip_from_an_alipay_one_and_dates_it_by_its_clearing_day(tmp_path: Path) -> None:
    evening = row(event_time=datetime(2026, 12, 31, 23, 30, tzinfo=BUSINESS_TZ))  # cleared on 1 Jan
    content = render_unionpay_bill_zip([evening, row("refund")], mer_id=MER, clearing_day=DAY)
    assert is_unionpay_bill_zip(content)
    read = bills.read_bill(io.BytesIO(content), tmp_path / "bill.csv")
    assert (read.channel, read.rows, read.first_day) == ("unionpay", 2, DAY)
    assert read.normalised.suffix == ".parquet"  # DuckDB read it (tests/reconciliation/test_columnar_unionpay)
    with duckdb.connect() as db:
        normalised = db.execute("SELECT channel, kind, out_trade_no, coalesce(out_refund_no, ''), transaction_id, "
                                "coalesce(refund_id, ''), amount_fen, fee_fen, state, trade_time_utc "
                                "FROM read_parquet($p) ORDER BY line_no", {"p": str(read.normalised)}).fetchall()
    assert normalised == [
        ("unionpay", "payment", "ORDER0001", "", "7" * 21, "", 1_000, 6, "SUCCESS", "2026-12-31T15:30:00Z"),
        ("unionpay", "refund", "ORDER0001", "rf0001refund", "7" * 21, "8" * 21, 500, -3, "SUCCESS",
         "2027-01-01T02:00:05Z")]
    slow = bills.read_bill(io.BytesIO(render_unionpay_bill_zip([replace(evening, card_no="卡"), row("refund")],
                                                               mer_id=MER, clearing_day=DAY)), tmp_path / "slow.csv")
    assert slow.normalised.suffix == ".csv" and slow.first_day == DAY  # not ASCII: the Python reader's
    with slow.normalised.open(encoding="utf-8") as lines:
        assert [(n.kind, n.out_trade_no, n.out_refund_no, n.amount_fen, n.fee_fen,
                 n.trade_time_utc.strftime("%Y-%m-%dT%H:%M:%SZ")) for n in read_normalised_csv(lines)] == [
            (kind, no, refund, amount, fee, at) for _, kind, no, refund, _, _, amount, fee, _, at in normalised]
    alipay = render_alipay_bill_zip([alipay_row()], pid="2088021109625633", bill_date=DAY)
    assert not is_unionpay_bill_zip(alipay)
    assert bills.read_bill(io.BytesIO(alipay), tmp_path / "alipay.csv").channel == "alipay"


def test_file_content_is_base64_of_a_zlib_stream_and_anything_else_is_rejected() -> None:
    content = render_unionpay_bill_zip([row()], mer_id=MER, clearing_day=DAY)
    assert decode_file_content(base64.b64encode(zlib.compress(content)).decode()) == content
    for broken in ("not base64!", base64.b64encode(b"raw, not deflated").decode(),
                   base64.b64encode(zlib.compress(b"inflates, but is no zip")).decode()):
        with pytest.raises(BillHashMismatch):
            decode_file_content(broken)


def test_files_come_from_unionpays_file_host_or_below_any_other_base() -> None:
    assert file_base_url("https://gateway.95516.com") == "https://filedownload.95516.com"
    assert file_base_url("https://gateway.test.95516.com/") == "https://filedownload.test.95516.com"
    assert file_base_url("http://127.0.0.1:8000/sandbox/unionpay") == (
        "http://127.0.0.1:8000/sandbox/unionpay/filedownload")
