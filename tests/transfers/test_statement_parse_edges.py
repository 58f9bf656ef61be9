"""The statement parser at its edges: whatever bytes arrive, it answers with credits or refuses the file with
its own ``invalid_statement`` error — never another exception, which reached the merchant as a 500 (after
some rows were written, when it came from a row's time at the database)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indiepay.core.errors import InvalidRequest
from indiepay.transfers.rules import parse_statement

HEADER = "bank_txn_id,booked_at,amount,memo"


def _refused(content: bytes) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as refused:
        parse_statement(content)
    assert refused.value.code == "invalid_statement"
    return refused.value


@pytest.mark.parametrize("booked_at", [
    "0001-01-01 00:00:00", "0001-01-01", "0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00",
    "9999-06-01", "1969-12-31T23:59:59Z"])
def test_a_booking_time_outside_the_storable_range_is_refused_naming_its_row(booked_at: str) -> None:
    content = f"{HEADER}\nOK-1,2026-11-28 08:00:00,1.00,hello\nBAD-2,{booked_at},2.00,x\n".encode()
    assert _refused(content).details == {"line": 3, "field": "booked_at"}


def test_booking_times_are_utc_and_the_range_edges_are_kept() -> None:
    content = f"{HEADER}\nA,1970-01-01T00:00:00Z,1.00,\nB,1970-01-01 08:00,1.00,\nC,9998-12-31,1.00,\n".encode()
    assert [row.booked_at for row in parse_statement(content)] == [
        datetime(1970, 1, 1, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC), datetime(9998, 12, 30, 16, tzinfo=UTC)]
    assert all(row.booked_at.tzinfo is UTC for row in parse_statement(content))


@pytest.mark.parametrize("ending", ["\r\n", "\n", "\r"])
def test_every_line_ending_a_bank_writes_reads_the_same(ending: str) -> None:
    content = ending.join([HEADER, "T1,2026-11-28 08:00:00,1.00,a", "T2,2026-11-28 09:00,-2.00,b",
                           "T3,2026-11-28,3.10,c", ""]).encode("gbk")
    assert [(row.line, row.bank_txn_id, row.amount, row.memo) for row in parse_statement(content)] == [
        (2, "T1", 100, "a"), (4, "T3", 310, "c")]


def test_a_line_break_inside_a_quoted_field_stays_in_it_and_a_bare_one_ends_the_row() -> None:
    quoted = f'{HEADER}\r"T1",2026-11-28,1.00,"two\rlines"\rT2,2026-11-28,2.00,x\r'.encode()
    assert [(row.bank_txn_id, row.memo) for row in parse_statement(quoted)] == [("T1", "two\rlines"), ("T2", "x")]
    bare = f"{HEADER}\nT1,2026-11-28,1.00,half\rT2,2026-11-28,2.00,x\n".encode()  # once a csv.Error, a 500
    assert [(row.line, row.bank_txn_id) for row in parse_statement(bare)] == [(2, "T1"), (3, "T2")]


@pytest.mark.parametrize("content,line", [
    (f'{HEADER}\nT1,2026-11-28,1.00,"left open\nT2,2026-11-28,2.00,x\n'.encode(), 2),  # would swallow T2
    (f'{HEADER}\nT1,2026-11-28,1.00,"quoted"then text\n'.encode(), 2),
    (f"{HEADER}\nT1,2026-11-28,1.00,ok\nT2,2026-11-28,2.00,{'m' * 200_000}\n".encode(), 3),  # csv's field limit
    (b"bank_txn_id,booked_at,amount\rA,2026-11-28,1.00\rB,2026-11-28,\x00\r", 3),
])
def test_unreadable_csv_is_refused_naming_the_row(content: bytes, line: int) -> None:
    assert _refused(content).details == {"line": line}


@pytest.mark.parametrize("amount", [
    "1e9999999",  # Decimal read it; its abs() overflowed the context (decimal.Overflow, a 500)
    "1e2", "1_000", "１２", "٣", "Infinity", "-sNaN", "0x10", "1.2.3", "", "-", ".", "1 000"])
def test_an_amount_that_is_not_a_plain_decimal_is_refused(amount: str) -> None:
    assert _refused(f"{HEADER}\nT1,2026-11-28,{amount},x\n".encode()).details == {"line": 2, "field": "amount"}


def test_plain_amounts_are_read_exactly() -> None:
    rows = parse_statement((f"{HEADER}\nA,2026-11-28,\"1,234.5\",\nB,2026-11-28,¥0.10,\nC,2026-11-28,+7.,\n"
                            "D,2026-11-28,.5,\nE,2026-11-28,2.000,\nF,2026-11-28,-0.00,\n").encode())
    assert [(row.bank_txn_id, row.amount) for row in rows] == [("A", 123450), ("B", 10), ("C", 700), ("D", 50),
                                                                ("E", 200)]


def test_empty_header_only_bom_and_undecodable_files() -> None:
    assert _refused(b"").details == {}
    assert _refused(b"\r\n\r\n").details == {"line": 1, "field": "bank_txn_id"}
    assert parse_statement(HEADER.encode()) == []  # a day without transfers
    assert parse_statement(b"\xef\xbb\xbf" + HEADER.encode() + b"\r\n") == []
    (row,) = parse_statement(b"\xef\xbb\xbf" + HEADER.encode() + b"\rT1,2026-11-28,1.00,x\r")
    assert row.bank_txn_id == "T1"
    assert _refused(HEADER.encode() + b"\nT1,2026-11-28,1.00,\x80\xff\x80\n").details == {}  # neither UTF-8 nor GBK
    duplicated = f"{HEADER}\nT1,2026-11-28,1.00,a\nT1,2026-11-28,-1.00,b\n".encode()
    assert _refused(duplicated).details == {"line": 3, "field": "bank_txn_id"}


_CELLS = st.one_of(
    st.sampled_from(["T1", "T2", "2026-11-28", "2026-11-28 08:00:00", "0001-01-01", "9999-12-31T23:59:59-08:00",
                     "1.00", "-2.50", "1e9999999", "NaN", "1,234.56", "¥3", '"', '""', "CNY", "USD", ""]),
    st.text(max_size=12))
_ROWS = st.lists(st.lists(_CELLS, max_size=6).map(",".join), max_size=6)


@settings(max_examples=300, deadline=None)
@given(rows=_ROWS, ending=st.sampled_from(["\n", "\r\n", "\r"]), encoding=st.sampled_from(["utf-8", "gb18030"]))
def test_any_rows_give_credits_or_the_parsers_own_error(rows: list[str], ending: str, encoding: str) -> None:
    content = ending.join([HEADER, *rows]).encode(encoding, errors="replace")
    _credits_or_refusal(content)


_PIECES = st.sampled_from([b",", b"\r", b"\n", b"\r\n", b'"', b"\x00", b"\xef\xbb\xbf", b"\xff", b"\xd6\xd0",
                           b"A", b"T1", b"1", b"0", b".", b"-", b"e9999999", b"2026-11-28", b"0001-01-01", b" 08:00",
                           b"+08:00", b"CNY"])
_BYTES = st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=40).map(b"".join))


@settings(max_examples=400, deadline=None)
@given(_BYTES)
def test_any_bytes_give_credits_or_the_parsers_own_error(tail: bytes) -> None:
    _credits_or_refusal(b"bank_txn_id,booked_at,amount\n" + tail)
    _credits_or_refusal(tail)


def _credits_or_refusal(content: bytes) -> None:
    try:
        credits = parse_statement(content)
    except InvalidRequest as refused:
        assert refused.code == "invalid_statement"
        return
    for row in credits:  # what is returned can be stored as it is
        assert row.amount > 0 and 0 < len(row.bank_txn_id) <= 64
        assert row.booked_at.tzinfo is UTC and datetime(1970, 1, 1, tzinfo=UTC) <= row.booked_at
        assert (row.payer_name is None or len(row.payer_name) <= 100) and (row.memo is None or len(row.memo) <= 200)
    assert len({row.bank_txn_id for row in credits}) == len(credits)
