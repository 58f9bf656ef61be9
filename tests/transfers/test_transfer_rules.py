"""The pure rules of bank-transfer matching: reading statement files, and what a credit pays."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from indiepay.channels.banktransfer import reference_code, references_in
from indiepay.core.errors import InvalidRequest
from indiepay.transfers.rules import Candidate, decide, parse_statement

CODE = reference_code("6222021234567890123", "ORDER1001")


def test_reference_codes_are_stable_typeable_and_found_however_written() -> None:
    assert reference_code("6222021234567890123", "ORDER1001") == CODE
    assert reference_code("6222021234567890123", "ORDER1002") != CODE
    assert CODE.startswith("IP") and len(CODE) == 10 and not set(CODE[2:]) & set("ILOU")
    spaced = f"货款 {CODE[:4].lower()} {CODE[4:7]}-{CODE[7:]} 谢谢"
    assert references_in(spaced) == [CODE]
    assert references_in(f"{CODE} and again {CODE}") == [CODE]
    assert references_in("no code here") == []


def test_a_bank_export_in_gbk_with_chinese_headers_reads_to_its_credits() -> None:
    text = ("交易时间,交易流水号,金额,对方户名,附言,币种\r\n"
            f"2026-11-27 10:15:00,T0001,\"1,234.50\",张三,{CODE},人民币\r\n"
            "2026-11-27 11:00,T0002,-88.00,供应商,退款,人民币\r\n"
            "\r\n"
            "2026-11-28,T0003,0.01,李四,,CNY\r\n")
    rows = parse_statement(text.encode("gbk"))
    assert [(r.line, r.bank_txn_id, r.amount, r.payer_name, r.memo) for r in rows] == [
        (2, "T0001", 123450, "张三", CODE), (5, "T0003", 1, "李四", None)]
    assert rows[0].booked_at == datetime(2026, 11, 27, 2, 15, tzinfo=UTC)  # Beijing time without a zone
    utf8 = "\ufeffbank_txn_id,booked_at,amount,memo\nX1,2026-11-27T10:15:00+00:00,12.3,hi\n".encode()
    (row,) = parse_statement(utf8)
    assert row.amount == 1230 and row.booked_at == datetime(2026, 11, 27, 10, 15, tzinfo=UTC)


@pytest.mark.parametrize("text,line,field", [
    ("booked_at,amount\n2026-11-27,1.00\n", 1, "bank_txn_id"),
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,1.001\n", 2, "amount"),
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,abc\n", 2, "amount"),
    ("bank_txn_id,booked_at,amount\nA,yesterday,1.00\n", 2, "booked_at"),
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,1.00\nA,2026-11-27,2.00\n", 3, "bank_txn_id"),
    ("bank_txn_id,booked_at,amount\n,2026-11-27,1.00\n", 2, "bank_txn_id"),
    ("bank_txn_id,booked_at,amount,currency\nA,2026-11-27,1.00,USD\n", 2, "currency"),
    ("bank_txn_id,流水号,booked_at,amount\nA,B,2026-11-27,1.00\n", 1, "bank_txn_id"),
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,NaN\n", 2, "amount"),
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,1e30\n", 2, "amount"),  # once a server error (quantize)
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,1e20\n", 2, "amount"),  # once past a BIGINT
    ("bank_txn_id,booked_at,amount\nA,2026-11-27,1e999999\n", 2, "amount"),
])
def test_a_malformed_file_is_refused_naming_the_row_and_field(text: str, line: int, field: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_statement(text.encode())
    assert refused.value.code == "invalid_statement"
    assert refused.value.details == {"line": line, "field": field}


def test_empty_or_binary_files_are_refused() -> None:
    for content in (b"", b"\xff\xfe\x00\x01" * 10):
        with pytest.raises(InvalidRequest) as refused:
            parse_statement(content)
        assert refused.value.code == "invalid_statement"


def test_a_credit_pays_only_an_unambiguous_waiting_payment_of_the_same_amount() -> None:
    waiting = Candidate("pay_1", 5000, "pending")
    assert decide(5000, [CODE], [waiting]).status == "matched"
    assert decide(5000, [CODE], [Candidate("pay_1", 5000, "closed")]).payment_id == "pay_1"  # late, not lost
    assert decide(5000, [], []).reason == "no_reference"
    assert decide(5000, [CODE], []).reason == "unknown_reference"
    assert decide(5000, [CODE, "IP00000000"], [waiting]).reason == "ambiguous_reference"
    assert decide(5000, [CODE], [waiting, Candidate("pay_2", 5000, "pending")]).reason == "ambiguous_reference"
    assert decide(4999, [CODE], [waiting]).reason == "amount_mismatch"
    assert decide(5000, [CODE], [Candidate("pay_1", 5000, "succeeded")]).reason == "already_paid"


def test_a_nul_in_a_statement_refuses_the_file_before_any_row_is_used() -> None:
    """PostgreSQL cannot store a NUL: a memo holding one was half an import and a server error."""
    content = b"bank_txn_id,booked_at,amount,memo\nA,2026-11-27,1.00,ok\nB,2026-11-27,2.00,x\x00y\n"
    with pytest.raises(InvalidRequest) as refused:
        parse_statement(content)
    assert refused.value.code == "invalid_statement" and refused.value.details == {"line": 3}
