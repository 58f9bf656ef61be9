"""The DuckDB reader of the UnionPay ZM entry never disagrees with the Python reader: for any file it
either declines (and the Python reader decides) or produces exactly the Python reader's rows."""

from __future__ import annotations

import io
import zipfile
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indiepay.core.clock import BUSINESS_TZ
from indiepay.reconciliation.columnar_unionpay import scan_zm
from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.normalised import COLUMNS, normalise_unionpay
from indiepay.reconciliation.parsers.unionpay import OFFSETS, UnionpayBillRow, entry_name, open_unionpay_bill_zip
from indiepay.reconciliation.writers.unionpay import render_zm, zm_line

MER = "777290058110097"
DAY = date(2027, 1, 1)
Row = tuple[object, ...]


def archive(zm: bytes, day: date = DAY) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as out:
        out.writestr(entry_name(MER, day), zm)
    return buffer.getvalue()


def python_rows(content: bytes) -> list[Row] | str:
    try:
        return [_plain(normalise_unionpay(row)) for row in open_unionpay_bill_zip(content).rows()]
    except BillError as exc:
        return exc.code


def _plain(row: object) -> Row:
    values = list(row)  # type: ignore[call-overload]
    values[9] = values[9].strftime("%Y-%m-%dT%H:%M:%SZ")
    return tuple(values)


def duckdb_rows(content: bytes, tmp_path: Path) -> list[Row] | None:
    bill = open_unionpay_bill_zip(content)
    path = tmp_path / "zm"
    with duckdb.connect() as into:
        found = scan_zm(path, bill.clearing_day, bill.extract(path), tmp_path / "unused.parquet", into=into)
        if found is None:
            assert into.execute("SELECT count(*) FROM duckdb_tables()").fetchone() == (0,)
            return None
        assert found.select is not None and found.first_day == bill.clearing_day
        rows = into.execute(f"SELECT {', '.join(COLUMNS)} FROM ({found.select}) ORDER BY line_no").fetchall()
    assert found.rows == len(rows)
    return [tuple("" if value is None else value for value in row) for row in rows]


def agree(content: bytes, tmp_path: Path) -> bool:
    """Both readers agree; True when DuckDB read the file itself."""
    expected = python_rows(content)
    got = duckdb_rows(content, tmp_path)
    if got is None:
        return False
    assert got == expected
    return True


def row(i: int, *, refund: bool = False, amount: int = 1_000, fee: int = 6,
        at: datetime = datetime(2027, 1, 1, 10, tzinfo=BUSINESS_TZ)) -> UnionpayBillRow:
    return UnionpayBillRow(kind="refund" if refund else "payment", txn_type="04" if refund else "01",
                           out_trade_no=f"ORDER{i:08d}", out_refund_no=f"rf{i:010d}" if refund else "",
                           query_id=f"{i:021d}", orig_query_id=f"{i + 1:021d}" if refund else "", amount_fen=amount,
                           fee_fen=-fee if refund else fee, settle_fen=0, event_time=at, mer_id=MER,
                           trace_no=f"{i % 1_000_000:06d}")


def edit(line: bytes, field: str, value: str) -> bytes:
    start, end = OFFSETS[field]
    return line[:start] + value.encode().ljust(end - start) + line[end:]


def test_a_regular_file_is_read_by_duckdb_exactly_as_by_python(tmp_path: Path) -> None:
    rows = [row(1), row(2, refund=True, amount=300, fee=2),
            row(3, at=datetime(2026, 12, 31, 23, 59, 59, tzinfo=BUSINESS_TZ)),
            row(4, at=datetime(2027, 1, 1, 22, 59, 59, tzinfo=BUSINESS_TZ))]
    assert agree(archive(render_zm(rows)), tmp_path)
    assert agree(archive(render_zm(rows).replace(b"\r\n", b"\n")), tmp_path)  # LF line ends
    assert agree(archive(render_zm(rows).rstrip(b"\r\n")), tmp_path)  # no final line end
    trimmed = b"\r\n".join(zm_line(r).rstrip() for r in rows)
    assert agree(archive(trimmed), tmp_path)  # trailing blank fields trimmed: padded like the reader pads


@pytest.mark.parametrize(("field", "value"), [
    ("settle_amt", "C000000000995"), ("net_amt", "C000000000990"), ("txn_amt", "00000000010a"),
    ("mer_fee", "X000000000006"), ("txn_type", "02"), ("trace_time", "1301100005"), ("trace_time", "0229100000"),
    ("order_id", ""), ("split_amt", "D000000000001"), ("txn_type", " 1"),
])
def test_a_line_duckdb_cannot_read_exactly_is_left_to_the_python_reader(field: str, value: str,
                                                                         tmp_path: Path) -> None:
    bad = edit(zm_line(row(2)), field, value)
    content = archive(render_zm([row(1)]) + bad + b"\r\n")
    assert not agree(content, tmp_path)  # declined: the Python reader raises its precise error
    assert isinstance(python_rows(content), str | list)


@pytest.mark.parametrize("zm", [b"", b"\r\n", render_zm([row(1)]) + b"\r\n", b"\r\n" + render_zm([row(1)]),
                                render_zm([row(1), row(2)]).replace(b"\r\n", b"\r"),
                                render_zm([row(1), row(2)]).replace(b"\r\n", b"\r\n\r\n", 1),
                                render_zm([row(1)]) + b" " * 700, b"\t" + render_zm([row(1)])[1:],
                                render_zm([row(1)]).replace(b"S22", b"S\x0b2"),
                                render_zm([row(1)]).replace(b"ORDER", b"\xb6\xa9\xb5\xa5O"),
                                b"S22 short line\r\n"])
def test_irregular_files_are_declined(zm: bytes, tmp_path: Path) -> None:
    assert not agree(archive(zm), tmp_path)


rows_strategy = st.lists(st.builds(
    lambda i, refund, amount, fee, seconds: row(i, refund=refund, amount=amount, fee=min(fee, amount),
                                                at=datetime(2026, 12, 31, 23, tzinfo=BUSINESS_TZ)
                                                + timedelta(seconds=seconds)),
    st.integers(0, 10**8), st.booleans(), st.integers(0, 10**12 - 1), st.integers(0, 10**6),
    st.integers(0, 24 * 3600 - 1)), min_size=1, max_size=20)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows_strategy, crlf=st.booleans())
def test_any_written_file_is_read_alike(rows: list[UnionpayBillRow], crlf: bool, tmp_path: Path) -> None:
    zm = render_zm(rows)
    assert agree(archive(zm if crlf else zm.replace(b"\r\n", b"\n")), tmp_path)
