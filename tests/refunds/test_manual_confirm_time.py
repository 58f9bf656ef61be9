"""Confirming a by-hand refund with a booking time that has no UTC (year 1 at +08:00) or lies past the
storable range reached the database and answered 500; it is a 400 naming the field, and the refund stays
``processing`` with its amount reserved."""

from __future__ import annotations

import pytest

from tests.support.platform import PlatformUnderTest


@pytest.mark.parametrize("booked_at", ["0001-01-01T00:00:00+08:00", "9999-12-31T23:59:59-08:00"])
def test_a_refund_confirmation_out_of_range_is_refused_and_changes_nothing(
        platform: PlatformUnderTest, booked_at: str) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("bank_transfer")
    payment = merchant.create_payment("bank_transfer", amount=5_000).json()
    paid = merchant.api.post(f"/v1/payments/{payment['id']}/confirm_transfer",
                             json={"bank_txn_id": "IN-1", "amount": 5_000})
    assert paid.status_code == 200, paid.text
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 3_000}).json()
    assert refund["status"] == "processing"

    refused = merchant.api.post(f"/v1/refunds/{refund['id']}/confirm_transfer",
                                json={"bank_txn_id": "OUT-1", "booked_at": booked_at})
    assert refused.status_code == 400, refused.text
    error = refused.json()["error"]
    assert error["code"] == "invalid_request"
    assert [e["loc"] for e in error["details"]["errors"]] == [["body", "booked_at"]]
    assert merchant.api.get(f"/v1/refunds/{refund['id']}").json()["status"] == "processing"
    assert platform.sql("SELECT refund_reserved, refunded_amount FROM payments WHERE id = :p", p=payment["id"]) \
        == [(3_000, 0)]
    assert platform.sql("SELECT count(*) FROM events WHERE type = 'refund.succeeded'") == [(0,)]

    done = merchant.api.post(f"/v1/refunds/{refund['id']}/confirm_transfer",
                             json={"bank_txn_id": "OUT-1", "booked_at": "2026-11-28T09:00:00+08:00"})
    assert done.status_code == 200 and done.json()["status"] == "succeeded"
