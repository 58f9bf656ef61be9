"""Lists by creation window: ``created_gte`` / ``created_lt`` on payments, refunds and events keep the rows
created in ``[created_gte, created_lt)`` — a merchant's day, in its own time zone — newest first and in
pages; a time without a zone or an empty window is refused with ``invalid_created_range``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update

from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.webhooks.models import Event
from tests.support.platform import MerchantClient, PlatformUnderTest

DAY = datetime(2026, 11, 20, tzinfo=UTC) - timedelta(hours=8)  # 2026-11-20 00:00 in Beijing


def ids(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def backdate(platform: PlatformUnderTest, model: Any, row_id: str, at: datetime) -> None:
    """Through the model's own column type, so the moment is stored exactly as the platform stores it."""
    with platform.runtime.ctx.db.transaction() as session:
        session.execute(update(model).where(model.id == row_id).values(created_at=at))


def paid(merchant: MerchantClient) -> dict[str, Any]:
    payment = merchant.create_payment("alipay_qr").json()
    merchant.pay(payment)
    return merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")


def test_a_day_of_payments_refunds_and_events(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant()
    merchant.sandbox_account("alipay")
    payments = [paid(merchant) for _ in range(4)]
    refunds = [merchant.api.post("/v1/refunds", json={"payment_id": p["id"], "amount": 100}).json() for p in payments]
    moments = [DAY - timedelta(seconds=1), DAY, DAY + timedelta(hours=23, minutes=59), DAY + timedelta(days=1)]
    for payment, refund, at in zip(payments, refunds, moments, strict=True):
        backdate(any_platform, Payment, payment["id"], at)
        backdate(any_platform, Refund, refund["id"], at)
    events = merchant.api.get("/v1/events", params={"type": "payment.succeeded", "limit": 100}).json()["data"]
    for event in events:
        index = [p["id"] for p in payments].index(event["data"]["object"]["id"])
        backdate(any_platform, Event, event["id"], moments[index])

    day = {"created_gte": "2026-11-20T00:00:00+08:00", "created_lt": "2026-11-21T00:00:00+08:00"}
    inside = [payments[2]["id"], payments[1]["id"]]  # the day's two, newest first
    assert ids(merchant.api.get("/v1/payments", params=day)) == inside
    first = merchant.api.get("/v1/payments", params={**day, "limit": 1})
    assert ids(first) == inside[:1] and first.json()["has_more"]
    assert ids(merchant.api.get("/v1/payments", params={**day, "starting_after": inside[0]})) == inside[1:]
    assert ids(merchant.api.get("/v1/refunds", params=day)) == [refunds[2]["id"], refunds[1]["id"]]
    day_events = merchant.api.get("/v1/events", params={**day, "type": "payment.succeeded"}).json()["data"]
    assert [e["data"]["object"]["id"] for e in day_events] == inside
    since = ids(merchant.api.get("/v1/payments", params={"created_gte": day["created_lt"]}))
    assert since == [payments[3]["id"]]
    before = ids(merchant.api.get("/v1/payments", params={"created_lt": day["created_gte"]}))
    assert before == [payments[0]["id"]]


def test_bad_windows_are_refused(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    for path in ("/v1/payments", "/v1/refunds", "/v1/events"):
        for params in ({"created_gte": "2026-11-20T00:00:00"},  # no zone
                       {"created_gte": "2026-11-21T00:00:00Z", "created_lt": "2026-11-20T00:00:00Z"},
                       {"created_gte": "2026-11-20T00:00:00Z", "created_lt": "2026-11-20T00:00:00Z"}):
            refused = merchant.api.get(path, params=params)
            assert refused.status_code == 400, refused.text
            assert refused.json()["error"]["code"] == "invalid_created_range"
        malformed = merchant.api.get(path, params={"created_lt": "yesterday"})
        assert malformed.status_code == 400 and malformed.json()["error"]["code"] == "invalid_request"
