"""A statement import is all or nothing on what the file says, over real loopback HTTP.

The credits of a statement commit one by one (so two matches of one payment can never both win), which made
a bad row a problem of timing: a booking time in year 1 (Beijing time, which has no UTC) was only found out
when its row's turn came to be written — the rows before it stayed, a pending payment they named was paid
and its ``payment.succeeded`` queued, an ``unmatched_transfer`` alert raised, no audit record written, and
the answer was a 500. Now the whole file is checked before the first write. The same out-of-range time in a
confirmation by hand was a 500 too; it is a 400 that changes nothing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.support.platform import MerchantClient, PlatformUnderTest

FAR_TIMES = ("0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00")


def _import(merchant: MerchantClient, account_id: str, content: bytes) -> httpx.Response:
    return merchant.api.post("/v1/bank_transfers/statements", params={"account_id": account_id},
                             content=content, headers={"Content-Type": "text/csv"})


def _transfer_payment(merchant: MerchantClient, amount: int) -> dict[str, Any]:
    created = merchant.create_payment("bank_transfer", amount=amount)
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_row_with_no_utc_time_refuses_the_file_before_anything_is_written(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    payment = _transfer_payment(merchant, 100)
    reference = payment["action"]["reference"]
    for first_memo in ("hello", reference):  # an unmatched credit first, then one that pays the payment
        statement = ("bank_txn_id,booked_at,amount,memo\n"
                     f"REPRO-OK-1,2026-11-28 08:00:00,1.00,{first_memo}\n"
                     "REPRO-BAD-2,0001-01-01 00:00:00,2.00,x\n")
        refused = _import(merchant, account["id"], statement.encode())
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "invalid_statement"
        assert refused.json()["error"]["details"] == {"line": 3, "field": "booked_at"}

    assert platform.sql("SELECT count(*) FROM bank_statement_lines") == [(0,)]
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    assert platform.sql("SELECT count(*) FROM alerts") == [(0,)]
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'payment.succeeded'") == [(0,)]
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'bank_statement.imported'") == [(0,)]

    fixed = ("bank_txn_id,booked_at,amount,memo\r"  # and the file put right, with an old system's CR endings
             f"REPRO-OK-1,2026-11-28 08:00:00,1.00,{reference}\r"
             "REPRO-BAD-2,2026-11-28 09:00:00,2.00,x\r")
    imported = _import(merchant, account["id"], fixed.encode())
    assert imported.status_code == 201, imported.text
    assert (imported.json()["credits"], imported.json()["matched"], imported.json()["unmatched"]) == (2, 1, 1)
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "succeeded"
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'bank_statement.imported'") == [(1,)]


def test_unreadable_csv_is_a_400_not_a_server_error(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    account = merchant.sandbox_account("bank_transfer")
    for content in (b'bank_txn_id,booked_at,amount,memo\nA,2026-11-28,1.00,"open quote\nB,2026-11-28,2.00,x\n',
                    b"bank_txn_id,booked_at,amount,memo\nA,2026-11-28,1.00," + b"m" * 200_000 + b"\n",
                    b"bank_txn_id,booked_at,amount\nA,2026-11-28,1e9999999\n"):
        refused = _import(merchant, account["id"], content)
        assert refused.status_code == 400, refused.text
        assert refused.json()["error"]["code"] == "invalid_statement"
    assert platform.sql("SELECT count(*) FROM bank_statement_lines") == [(0,)]


@pytest.mark.parametrize("booked_at", FAR_TIMES)
def test_a_confirmation_with_a_time_out_of_range_is_refused_and_changes_nothing(
        platform: PlatformUnderTest, booked_at: str) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    payment = _transfer_payment(merchant, 5_000)
    refused = merchant.api.post(f"/v1/payments/{payment['id']}/confirm_transfer",
                                json={"bank_txn_id": "FAR-1", "amount": 5_000, "booked_at": booked_at})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request"
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", "booked_at"]]
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["status"] == "pending"
    assert platform.sql("SELECT count(*) FROM bank_statement_lines") == [(0,)]
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'payment.succeeded'") == [(0,)]
