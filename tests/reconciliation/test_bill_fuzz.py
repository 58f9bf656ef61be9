"""Mutated bills: whatever the bytes, reading a bill either succeeds or raises one of the reconciliation's own
:class:`~indiepay.reconciliation.errors.BillError` subclasses — a 422 with a stable code at the upload, a
refusal with that code in the CLI — never the gzip, zip, DuckDB, ``decimal`` or ``datetime`` exception
underneath (a 500). Small valid bills of every kind (WeChat Pay trade and fund-flow, plain and gzip, Alipay
and UnionPay zips) are mutated — bytes flipped, cut, inserted (quotes, NULs, line ends, huge numbers),
line ends changed, inside the compression or outside it — and read through every entry point of the upload:
:func:`.bills.sniff_kind`, :func:`.bills.read_bill` (from a file on disk, so DuckDB reads it, from memory, and
into a matcher's database) and :func:`.bills.read_fundflow_bill`."""

from __future__ import annotations

import contextlib
import gzip
import io
import tempfile
import zipfile
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indiepay.reconciliation import bills
from indiepay.reconciliation.columnar_bill import SCANNED
from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip
from indiepay.reconciliation.writers.wechat import render_wechat_fundflow_bill, render_wechat_trade_bill
from tests.reconciliation.factories import alipay_row, fund_row, wechat_payment, wechat_refund
from tests.reconciliation.test_unionpay_bill import row as unionpay_row

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TRADE = render_wechat_trade_bill([wechat_payment(1), wechat_payment(2, fee=Decimal("0.00500")), wechat_refund(3)])
FUNDFLOW = render_wechat_fundflow_bill([fund_row(1), fund_row(2, direction="支出", amount_fen=12)])
ALIPAY = render_alipay_bill_zip([alipay_row(1), alipay_row(2, refund=True)], pid="2088021109625633",
                                bill_date=date(2024, 5, 1))
UNIONPAY = render_unionpay_bill_zip([unionpay_row(), unionpay_row("refund")], mer_id="777290058110097",
                                    clearing_day=date(2027, 1, 1))
SEEDS = {"trade": TRADE, "fundflow": FUNDFLOW, "alipay": ALIPAY, "unionpay": UNIONPAY}

TOKENS = [b'"', b"\x00", b"\r", b"\n", b"\r\n", b",", b"`", b"-", b".", b" ", b"\t", b"#", b"\xff", b"\xe6\x89",
          b"9" * 16, b"4200000000000000000000000001", b"9" * 5000, b"0001-01-01 00:00:00", b"9999-12-31 23:59:59",
          b"\x1f\x8b", b"PK\x03\x04", "\u00b2".encode(), "\u0661\u0662".encode(), "\u00b2".encode("gb18030"),
          "\uff11".encode("gb18030")]
"""Bytes worth inserting: the CSV's own syntax, line ends, invalid UTF-8, numbers past every cap, times at the
ends of the calendar, compression magic, digits ``isdigit`` admits but ``int`` or ``Decimal`` may not."""

Mutation = Callable[[bytes], bytes]


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    kind = draw(st.sampled_from(["flip", "cut", "insert", "delete", "line_end", "number"]))
    at = draw(st.floats(min_value=0, max_value=1))
    token = draw(st.sampled_from(TOKENS) | st.binary(min_size=1, max_size=8))
    flip = draw(st.integers(min_value=1, max_value=255))
    span = draw(st.integers(min_value=1, max_value=64))
    which = draw(st.integers(min_value=0, max_value=40))

    def where(data: bytes) -> int:
        return min(len(data), int(at * len(data)))

    def apply(data: bytes) -> bytes:
        i = where(data)
        if kind == "flip" and data:
            i = min(i, len(data) - 1)
            return data[:i] + bytes([data[i] ^ flip]) + data[i + 1:]
        if kind == "cut":
            return data[:i]
        if kind == "insert":
            return data[:i] + token + data[i:]
        if kind == "delete":
            return data[:i] + data[i + span:]
        if kind == "line_end":  # one line end changed: CRLF to LF or CR, or LF to CRLF
            ends = [n for n in range(len(data)) if data[n:n + 1] == b"\n"]
            if not ends:
                return data
            n = ends[which % len(ends)]
            if n and data[n - 1:n] == b"\r":
                return data[:n - 1] + (b"\n" if flip % 2 else b"\r") + data[n + 1:]
            return data[:n] + b"\r\n" + data[n + 1:]
        if kind == "number":  # the digits at one place replaced by a token (often a huge number)
            start = i
            while start < len(data) and not data[start:start + 1].isdigit():
                start += 1
            end = start
            while end < len(data) and data[end:end + 1].isdigit():
                end += 1
            return data[:start] + token + data[end:]
        return data

    return apply


def _rezip(archive: bytes, edit: Mutation, which: int) -> bytes:
    """The zip with one entry's content mutated (names and compression kept)."""
    source = zipfile.ZipFile(io.BytesIO(archive))
    infos = source.infolist()
    target = infos[which % len(infos)].filename
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as rezipped:
        for info in infos:
            content = source.read(info)
            rezipped.writestr(info, edit(content) if info.filename == target else content)
    return out.getvalue()


@st.composite
def mutated_bills(draw: st.DrawFn) -> bytes:
    seed = draw(st.sampled_from(sorted(SEEDS)))
    edits = draw(st.lists(mutations(), min_size=1, max_size=3))

    def edit(data: bytes) -> bytes:
        for apply in edits:
            data = apply(data)
        return data

    content = SEEDS[seed]
    where = draw(st.sampled_from(["outside", "inside"]))
    if seed in ("alipay", "unionpay"):
        return edit(content) if where == "outside" else _rezip(content, edit, draw(st.integers(0, 3)))
    if draw(st.booleans()):  # delivered gzip-compressed
        return edit(gzip.compress(content)) if where == "outside" else gzip.compress(edit(content))
    return edit(content)


def _read_all_ways(content: bytes) -> None:
    """Every entry point of an upload, on one file; each must succeed or raise a BillError."""
    with tempfile.TemporaryDirectory(prefix="bill-fuzz-") as tmp:
        folder = Path(tmp)
        path = folder / "bill"
        path.write_bytes(content)
        attempts: list[Callable[[], object]] = [
            lambda: bills.sniff_kind(io.BytesIO(content)),
            lambda: bills.read_fundflow_bill(io.BytesIO(content)),
            lambda: bills.read_bill(io.BytesIO(content), folder / "memory.csv"),
        ]
        for attempt in attempts:
            with contextlib.suppress(BillError):
                attempt()
        with path.open("rb") as stream, contextlib.suppress(BillError):  # on disk: DuckDB reads it in place
            bills.read_bill(stream, folder / "disk.csv")
        with duckdb.connect(str(folder / "matcher.duckdb")) as into:  # into a matcher's database
            try:
                read = bills.read_bill(io.BytesIO(content), folder / "into.csv", into=into)
            except BillError:
                read = None
            kept = into.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = $t", {"t": SCANNED}).fetchone()
            assert kept == (1 if read is not None and read.select is not None else 0,), "a scan's table was left behind"


@SETTINGS
@given(mutated_bills())
def test_a_mutated_bill_is_read_or_refused_with_a_bill_error(content: bytes) -> None:
    _read_all_ways(content)


def test_the_unmutated_seeds_read() -> None:
    with tempfile.TemporaryDirectory(prefix="bill-fuzz-") as tmp:
        for name in ("trade", "alipay", "unionpay"):
            assert bills.read_bill(io.BytesIO(SEEDS[name]), Path(tmp) / f"{name}.csv").rows == 2 + (name == "trade")
        assert bills.read_fundflow_bill(io.BytesIO(FUNDFLOW)).tally is not None
        assert bills.sniff_kind(io.BytesIO(gzip.compress(FUNDFLOW))) == bills.FUNDFLOW
