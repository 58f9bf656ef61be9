"""The DuckDB reader of WeChat Pay trade bills agrees with the Python reader, row for row (into Parquet or into a
matcher's database alike), and falls back to it (or raises the same error) for every bill it does not read
itself.

(The factories' product name holds a comma, which the writer quotes, and a quoted bill is left to the
Python reader: the bills that must take the DuckDB path here use a product name without one.)"""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from indiepay.reconciliation import bills
from indiepay.reconciliation.columnar_bill import PlainText, scan_trade_bill
from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.normalised import COLUMNS, read_normalised_csv, write_normalised_csv
from indiepay.reconciliation.parsers.wechat_trade import TradeBillLayout, parse_wechat_trade_bill
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill
from tests.reconciliation.factories import SH, WECHAT_SAMPLE, wechat_payment, wechat_refund, wechat_rows

Row = tuple[object, ...]


def python_rows(data: bytes) -> list[Row]:
    """The Python reader's normalised rows, as DuckDB reads its CSV back (empty text is NULL)."""
    out = io.StringIO()
    write_normalised_csv(parse_wechat_trade_bill(data), out)
    out.seek(0)
    return [tuple(value if value != "" else None for value in (
        *row[:9], row.trade_time_utc.strftime("%Y-%m-%dT%H:%M:%SZ"), *row[10:])) for row in read_normalised_csv(out)]


def scanned(data: bytes, tmp_path: Path) -> list[Row] | None:
    """The DuckDB reader's rows, or None when it declines the bill."""
    path = tmp_path / "bill.csv"
    path.write_bytes(data)
    check = PlainText()
    check.update(data)
    if not check.finish():
        return None
    found = scan_trade_bill(path, tmp_path / "bill.parquet", newlines=check.newlines, commas=check.commas)
    with duckdb.connect() as into:  # into a matcher's database, split at "," only: the same rows or refusal
        inside = scan_trade_bill(path, tmp_path / "unused.parquet", newlines=check.newlines, into=into)
        assert (inside is None) == (found is None) and not (tmp_path / "unused.parquet").exists()
        kept = into.execute("SELECT count(*) FROM duckdb_tables()").fetchone()
        assert kept == ((0,) if inside is None else (1,))
        rows_inside = None if inside is None or inside.select is None else into.execute(
            f"SELECT {', '.join(COLUMNS)} FROM ({inside.select}) ORDER BY line_no").fetchall()
    if found is None:
        return None
    with duckdb.connect() as db:
        rows = db.execute(f"SELECT {', '.join(COLUMNS)} FROM read_parquet($p) ORDER BY line_no",
                          {"p": str(found.normalised)}).fetchall()
    assert found.rows == len(rows) and rows_inside == rows
    return rows


def via_read_bill(data: bytes, tmp_path: Path) -> str:
    """The error code :func:`bills.read_bill` raises for ``data`` on disk, or ``ok``."""
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    try:
        with path.open("rb") as stream:
            bills.read_bill(stream, tmp_path / "out.csv")
    except BillError as exc:
        return exc.code
    return "ok"


def python_code(data: bytes) -> str:
    try:
        for _ in parse_wechat_trade_bill(data):
            pass
    except BillError as exc:
        return exc.code
    return "ok"


def test_the_real_bill_is_read_by_duckdb_exactly_as_by_python(tmp_path: Path) -> None:
    data = WECHAT_SAMPLE.read_bytes()
    rows = scanned(data, tmp_path)
    assert rows is not None and len(rows) == 45
    assert rows == python_rows(data)


@pytest.mark.parametrize("layout", list(TradeBillLayout))
def test_each_layout_agrees(layout: TradeBillLayout, tmp_path: Path) -> None:
    payment = wechat_payment(1, fee=Decimal("0.01195"), sub_mch_id="1900000110", device="门店-01")
    late = wechat_payment(5, trade_time=datetime(2024, 5, 1, 23, 59, 59, tzinfo=SH), fee=Decimal("-0.00500"))
    refund = wechat_refund(2, refund_requested_at=datetime(2024, 5, 1, 11, 0, tzinfo=SH),
                           refund_succeeded_at=datetime(2024, 5, 2, 0, 0, 3, tzinfo=SH))
    if layout is TradeBillLayout.SUCCESS:
        rows = [replace(r, refund_fen=None, recharge_coupon_refund_fen=None, refund_requested_fen=None)
                for r in (payment, late)]
    elif layout is TradeBillLayout.REFUND:
        rows = [refund, wechat_refund(3, refund_status=None), replace(refund, out_refund_no="re_x", refund_id=None)]
    else:
        rows = [payment, late, wechat_refund(2), wechat_refund(4, refund_status=None)]
    data = render_wechat_trade_bill([replace(row, product="咖啡豆 250g") for row in rows], layout)
    found = scanned(data, tmp_path)
    assert found is not None
    assert found == python_rows(data)


def test_a_generated_bill_with_refunds_agrees(tmp_path: Path) -> None:
    data = render_wechat_trade_bill(replace(row, product="咖啡豆") for row in wechat_rows(3_000))
    found = scanned(data, tmp_path)
    assert found is not None and len(found) == 3_000
    assert found == python_rows(data)


def test_unusual_but_valid_bills_fall_back_to_the_python_reader(tmp_path: Path) -> None:
    data = WECHAT_SAMPLE.read_bytes()
    odd = [
        render_wechat_trade_bill([wechat_payment(1, product='咖啡,"豆"')]),  # quoted fields
        data.replace(b"`CNY,`0.03,", b"`CNY,`0.030,", 1).replace(b"`0.47", b"`0.470", 1),  # three decimals
        data.replace(b"\r\n`", b"\r\n\r\n`", 1),  # a blank line among the rows
        data.replace(b"\r\n", b"\n"),  # LF line ends (read by DuckDB too)
        data.replace(b"`CNY,`0.03,", b"`CNY,` 0.03,", 1),  # spaces around an amount
        data.replace(b"`0.01000,", b"`0.010001,", 1),  # a fee with six decimals
        b"\r\n" + data,  # the header on line 2
        data.replace(b",`NATIVE,", b",NATIVE,", 1),  # a field without its backtick
    ]
    for n, case in enumerate(odd):
        assert python_code(case) == "ok", n
        assert via_read_bill(case, tmp_path) == "ok", n
        rows = scanned(case, tmp_path)
        assert rows is None or rows == python_rows(case), n


def test_read_bill_raises_what_the_python_reader_raises(tmp_path: Path) -> None:
    data = WECHAT_SAMPLE.read_bytes()
    lines = data.split(b"\r\n")
    header = lines[0]
    broken = [
        data[: data.index("总交易单数".encode())],
        data[: data.rindex(b"`45.0")],
        data.replace(b"`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.03,", b"`NATIVE,`SUCCESS,`OTHERS,`CNY,`0.04,", 1),
        data.replace(b"`0.01000,", b"`0.02000,", 1),
        b"\r\n".join(lines[:5] + lines[6:]),
        b"\r\n".join(lines[:5] + lines[5:6] + lines[5:]),
        data.replace(b"`CNY,`0.03,", b"`CNY,`0.035,", 1),
        data.replace(b"`CNY,`0.03,", b"`CNY,`3e-2,", 1),
        data.replace(b"`0.01000,", b"`abc,", 1),
        data.replace(b",`39.00%,", b",", 1),
        data.replace(b",`39.00%,", b",`39.00%,`x,", 1),
        data.replace(b",`39.00%,", b",`39.00%,x,", 1),  # one field too many, "39.00%,x" if split at ",`"
        data.replace(b",`39.00%,`", b",`39.00%,x,", 1),  # as many fields split at ",`", one too many at ","
        data.replace("系统拨测".encode(), "系统拨测".encode("gbk"), 1),
        data[:-3] + b"\xe4\xb8",
        data + b"`extra,`line\r\n",
        data.replace(b"`2019-02-19 05:01:46", b"`2019-02-19T05:01", 1),
        data.replace(b"`2019-02-19 05:01:46", b"`2019-02-30 05:01:46", 1),
        data.replace(b"`2019-02-19 05:01:46", b"`2019-02-19 24:01:46", 1),
        data.replace(header, header.replace("商户号".encode(), "设备号".encode(), 1), 1),
        data.replace(b"`45.0,`0.47", b"`45.5,`0.47"),
        data.replace(b"\r\n`", b"\r`", 1),
        data.replace(b"`0.01000,", b"`0.01\x00000,", 1),
    ]
    for n, case in enumerate(broken):
        expected = python_code(case)
        assert expected != "ok", n
        assert via_read_bill(case, tmp_path) == expected, n


def test_a_gzip_or_stored_bill_is_read_by_duckdb_from_a_plain_copy(tmp_path: Path) -> None:
    data = WECHAT_SAMPLE.read_bytes()
    read = bills.read_bill(io.BytesIO(data), tmp_path / "bill.csv")
    assert read.normalised.suffix == ".parquet" and read.rows == 45
    again = bills.read_stored(read.content_gz, tmp_path / "again.csv")
    assert again.normalised.suffix == ".parquet" and again.sha1 == read.sha1
    assert again.first_day == read.first_day


@pytest.mark.parametrize(("blocks", "plain"), [
    ([b"a,b\r", b"\nc,d\r\n"], True),  # a CRLF split between two blocks
    ([b"a,b\r", b"c,d\r\n"], False),  # a lone CR at the end of a block
    ([b"a,b\r\r", b"\nc\r\n"], False),  # a lone CR just before the block's last byte
    ([b"a\rb\r\n"], False),
    ([b"a,b\r\n", b"c,d\r"], False),  # the file ends on a lone CR
    ([b"a,b\n", b"c,d\n"], True),
])
def test_plain_text_finds_a_lone_carriage_return_across_blocks(blocks: list[bytes], plain: bool) -> None:
    check = PlainText()
    for block in blocks:
        check.update(block)
    assert check.finish() is plain
    assert check.newlines == sum(block.count(b"\n") for block in blocks)


def test_a_bill_read_into_the_matcher_keeps_its_line_numbers(tmp_path: Path) -> None:
    """The matcher's database does not preserve insertion order; a bill big enough for DuckDB to read it
    in parallel still gets each row's own line (a row's rowid is its line) and the setting back."""
    data = render_wechat_trade_bill(replace(wechat_payment(n), product="bench") for n in range(150_000))
    path = tmp_path / "bill.csv"
    path.write_bytes(data)
    check = PlainText()
    check.update(data)
    assert check.finish()
    with duckdb.connect() as into:
        into.execute("SET threads = 4")
        into.execute("SET preserve_insertion_order = false")
        found = scan_trade_bill(path, tmp_path / "unused.parquet", newlines=check.newlines, commas=check.commas,
                                into=into)
        assert found is not None and found.select is not None and found.rows == 150_000
        lines = into.execute(f"SELECT out_trade_no, line_no FROM ({found.select})").fetchall()
        assert into.execute("SELECT current_setting('preserve_insertion_order')").fetchone() == (False,)
    expected = {row.out_trade_no: line for line, row in enumerate(
        (replace(wechat_payment(n), product="bench") for n in range(150_000)), start=2)}
    assert dict(lines) == expected
