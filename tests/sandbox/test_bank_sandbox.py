"""The sandbox bank: a buyer's transfer, and the receiving account's statement in the importable format."""

from __future__ import annotations

from fastapi.testclient import TestClient

from indiepay.core.clock import BUSINESS_TZ
from indiepay.sandbox.bank import BankSandboxConfig, create_bank_sandbox
from indiepay.transfers.rules import parse_statement


def test_transfers_show_on_the_statement_of_their_account_and_day() -> None:
    client = TestClient(create_bank_sandbox(BankSandboxConfig()))
    first = client.post("/_buyer/transfer", json={"account_number": "62220000000000001", "amount": 52000,
                                                  "memo": "茶具 IP0123ABCD", "payer_name": "张三"})
    assert first.status_code == 201
    client.post("/_buyer/transfer", json={"account_number": "62220000000000001", "amount": 1})
    client.post("/_buyer/transfer", json={"account_number": "62220000000000002", "amount": 7})
    statement = client.get("/statement", params={"account_number": "62220000000000001"})
    assert statement.headers["content-type"].startswith("text/csv")
    rows = parse_statement(statement.content)  # GBK, Chinese headers: the platform's import reads it
    assert [(r.bank_txn_id, r.amount, r.memo, r.payer_name) for r in rows] == [
        (first.json()["bank_txn_id"], 52000, "茶具 IP0123ABCD", "张三"), (rows[1].bank_txn_id, 1, None, "沙箱买家")]
    day = rows[0].booked_at.astimezone(BUSINESS_TZ).date()
    assert len(parse_statement(client.get("/statement", params={"account_number": "62220000000000001",
                                                                 "date": day.isoformat()}).content)) == 2
    assert parse_statement(client.get("/statement", params={"account_number": "62220000000000001",
                                                             "date": "2001-01-01"}).content) == []


def test_bad_transfers_are_refused() -> None:
    client = TestClient(create_bank_sandbox(BankSandboxConfig()))
    for body in ({"account_number": "12", "amount": 1}, {"account_number": "62220000000000001", "amount": 0},
                 {"account_number": "62220000000000001", "amount": 1.5}, ["x"],
                 {"account_number": "62220000000000001", "amount": 1, "memo": "x" * 141}):
        assert client.post("/_buyer/transfer", json=body).status_code == 400
    assert client.post("/_buyer/transfer", content=b"{").status_code == 400
    assert client.get("/statement", params={"account_number": "1", "date": "27/11"}).status_code == 400
