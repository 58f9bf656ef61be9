"""An amount larger than any channel takes is bad input on every route that moves money: a 400 naming the
amount, never a server error from the database refusing a number wider than a BIGINT (a profit-sharing
return of 10¹⁹ fen once reached SQL and failed there), and nothing written."""

from __future__ import annotations

from typing import Any

import pytest

from indiepay.core.money import MAX_AMOUNT_FEN
from tests.support.platform import PlatformUnderTest

BODIES: dict[str, dict[str, Any]] = {
    "/v1/payments": {"currency": "CNY", "out_trade_no": "Tbounds0001", "description": "tea",
                     "method": "wechat_native"},
    "/v1/refunds": {"payment_id": "pay_nope"},
    "/v1/profit_sharing/orders": {"payment_id": "pay_nope", "receivers": [{"receiver_id": "psr_nope"}]},
    "/v1/profit_sharing/returns": {"order_id": "pso_nope", "receiver_id": "psr_nope"},
    "/v1/payments/pay_nope/confirm_transfer": {"bank_txn_id": "B1"},
}


def with_amount(path: str, amount: int) -> dict[str, Any]:
    body = {key: (list(value) if isinstance(value, list) else value) for key, value in BODIES[path].items()}
    if "receivers" in body:
        body["receivers"] = [{**line, "amount": amount} for line in body["receivers"]]
    else:
        body["amount"] = amount
    return body


@pytest.mark.parametrize("path", sorted(BODIES))
def test_an_amount_beyond_any_channel_is_refused_as_bad_input(platform: PlatformUnderTest, path: str) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    tables = ("payments", "refunds", "sharing_orders", "sharing_returns", "bank_statement_lines")
    before = {table: platform.sql(f"SELECT count(*) FROM {table}") for table in tables}
    for amount in (MAX_AMOUNT_FEN + 1, 10**19, 2**63, 10**400):
        answer = merchant.api.post(path, json=with_amount(path, amount))
        assert answer.status_code == 400, (amount, answer.text)
        assert answer.json()["error"]["code"] in ("invalid_amount", "invalid_request"), answer.text
    largest = merchant.api.post(path, json=with_amount(path, MAX_AMOUNT_FEN))  # the bound itself is an amount
    assert largest.status_code != 400 or largest.json()["error"]["code"] not in ("invalid_amount", "invalid_request")
    assert largest.status_code < 500, largest.text
    assert {table: platform.sql(f"SELECT count(*) FROM {table}") for table in tables} == before
