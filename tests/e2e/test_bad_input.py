"""Bad input gets a 4xx with a stable code and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from indiepay.payments.models import Payment
from tests.support.platform import PlatformUnderTest

GOOD: dict[str, Any] = {"amount": 100, "currency": "CNY", "out_trade_no": "ORDER-0001", "description": "Tea",
                        "method": "wechat_native"}


def payments_count(platform: PlatformUnderTest) -> int:
    with platform.runtime.ctx.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Payment)) or 0)


@pytest.mark.parametrize("change,code", [
    ({"amount": 0}, "invalid_amount"),
    ({"amount": -1}, "invalid_amount"),
    ({"amount": 1.5}, "invalid_amount"),
    ({"amount": "100"}, "invalid_amount"),
    ({"amount": 2**31}, "amount_too_large"),
    ({"method": "paypal"}, "invalid_method"),
    ({"currency": "USD"}, "invalid_currency"),
    ({"out_trade_no": "no spaces allowed"}, "invalid_out_trade_no"),
    ({"status": "succeeded"}, "unknown_field"),
    ({"merchant_id": "mch_other"}, "unknown_field"),
    ({"method": "wechat_jsapi"}, "missing_field"),
])
def test_bad_payment_fields(platform: PlatformUnderTest, change: dict[str, Any], code: str) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    response = merchant.api.post("/v1/payments", json={**GOOD, **change})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == code
    assert payments_count(platform) == 0


@pytest.mark.parametrize("missing", ["amount", "currency", "out_trade_no", "description", "method"])
def test_missing_fields(platform: PlatformUnderTest, missing: str) -> None:
    merchant = platform.merchant()
    body = {k: v for k, v in GOOD.items() if k != missing}
    response = merchant.api.post("/v1/payments", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "missing_field"
    assert payments_count(platform) == 0


@pytest.mark.parametrize("raw", [b"{", b"not json", b"", b'{"amount": 1,}', b"\xff\xfe"])
def test_malformed_json(platform: PlatformUnderTest, raw: bytes) -> None:
    merchant = platform.merchant()
    response = merchant.api.post("/v1/payments", content=raw, headers={"Content-Type": "application/json"})
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] in {"malformed_json", "missing_field", "invalid_request"}
    assert payments_count(platform) == 0


def test_duplicate_out_trade_no_is_a_conflict_and_writes_nothing(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    assert merchant.api.post("/v1/payments", json=GOOD).status_code == 201
    again = merchant.api.post("/v1/payments", json={**GOOD, "amount": 999})
    assert again.status_code == 409 and again.json()["error"]["code"] == "duplicate_out_trade_no"
    assert payments_count(platform) == 1


def test_no_account_for_the_channel(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    response = merchant.api.post("/v1/payments", json=GOOD)
    assert response.status_code == 422 and response.json()["error"]["code"] == "no_channel_account"
    assert payments_count(platform) == 0


@pytest.mark.parametrize("body,code", [
    ({"amount": 0}, "invalid_amount"), ({"amount": 1.5}, "invalid_amount"), ({"amount": -5}, "invalid_amount"),
    ({"payment_id": "pay_nope", "amount": 1}, "payment_not_found"), ({"surprise": 1}, "unknown_field"),
])
def test_bad_refunds(platform: PlatformUnderTest, body: dict[str, Any], code: str) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment().json()
    response = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 10, **body})
    assert 400 <= response.status_code < 500 and response.json()["error"]["code"] == code


def test_refund_of_an_unpaid_payment_is_refused(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    payment = merchant.create_payment().json()
    response = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 10})
    assert response.status_code == 409 and response.json()["error"]["code"] == "payment_not_refundable"


def test_bad_merchant_and_account_input(platform: PlatformUnderTest) -> None:
    bad = platform.admin.post("/v1/merchants", json={"name": "x", "short_name": "x", "subject_type": "alien"})
    assert bad.status_code == 400
    merchant = platform.merchant()
    creds = merchant.api.post("/v1/channel_accounts", json={
        "channel": "wechatpay", "environment": "sandbox", "credentials": {"mchid": "1"}})
    assert creds.status_code == 400 and creds.json()["error"]["code"] == "invalid_credentials"
    unknown = merchant.api.post("/v1/channel_accounts", json={"channel": "paypal", "sandbox": True})
    assert unknown.status_code == 400


def test_auth_errors(platform: PlatformUnderTest) -> None:
    import httpx

    no_key = httpx.get(f"{platform.base_url}/v1/payments")
    assert no_key.status_code == 401 and no_key.json()["error"]["code"] == "missing_api_key"
    wrong = httpx.get(f"{platform.base_url}/v1/payments", headers={"Authorization": "Bearer sk_test_nope"})
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "invalid_api_key"
    merchant = platform.merchant()
    forbidden = merchant.api.post("/v1/merchants", json={"name": "a", "short_name": "a", "subject_type": "individual"})
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "admin_required"
