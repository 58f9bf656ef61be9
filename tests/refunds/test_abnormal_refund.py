"""WeChat Pay's ABNORMAL refund: the money has left the merchant's account, but the buyer's bank refused it
(a closed or frozen card) and it waits for the merchant to send it on at the channel, after which the channel
reports SUCCESS. It was taken for a failure: the amount became refundable again (a second refund of money
already gone) and the SUCCESS that followed was ignored, so the refund was never booked. Now the refund stays
``processing`` with its amount reserved, the merchant is alerted once, and the SUCCESS settles it."""

from __future__ import annotations

from datetime import timedelta

from indiepay.channels.wechatpay.states import refund_from_wechat
from indiepay.refunds.service import apply_refund_state
from tests.advisor.conftest import add_account, add_payment, add_refund
from tests.support.platform import PlatformUnderTest


def test_an_abnormal_refund_stays_reserved_and_its_success_is_booked(platform: PlatformUnderTest) -> None:
    ctx = platform.runtime.ctx
    merchant = platform.merchant()
    account = add_account(ctx.db, None)
    payment_id = add_payment(ctx.db, merchant.id, account, 1_000, platform.clock.now() - timedelta(hours=1))
    add_refund(ctx.db, merchant.id, payment_id, 600, platform.clock.now(), status="processing")
    refund_id = platform.sql("SELECT id FROM refunds WHERE payment_id = :p", p=payment_id)[0][0]
    platform.sql("UPDATE payments SET refund_reserved = 600 WHERE id = :p", p=payment_id)
    said = {"out_refund_no": refund_id, "out_trade_no": payment_id, "refund_id": "50300000001",
            "amount": {"refund": 600, "total": 1000, "currency": "CNY"}}

    for _ in range(2):  # the callback, then a query: one alert
        with ctx.db.transaction() as session:
            assert not apply_refund_state(session, ctx, refund_id, refund_from_wechat({**said, "status": "ABNORMAL"}))
    assert platform.sql("SELECT status FROM refunds WHERE id = :r", r=refund_id) == [("processing",)]
    assert platform.sql("SELECT refund_reserved, refunded_amount FROM payments WHERE id = :p", p=payment_id) \
        == [(600, 0)]
    refused = merchant.live.post("/v1/refunds", json={"payment_id": payment_id, "amount": 600})
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "refund_exceeds_refundable"
    alerts = platform.sql("SELECT severity, merchant_id FROM alerts WHERE kind = 'refund_abnormal'")
    assert alerts == [("high", merchant.id)]

    with ctx.db.transaction() as session:
        assert apply_refund_state(session, ctx, refund_id, refund_from_wechat(
            {**said, "status": "SUCCESS", "success_time": "2026-11-27T10:00:00+08:00"}))
    assert platform.sql("SELECT status FROM refunds WHERE id = :r", r=refund_id) == [("succeeded",)]
    assert platform.sql("SELECT refund_reserved, refunded_amount FROM payments WHERE id = :p", p=payment_id) \
        == [(600, 600)]
    assert platform.sql("SELECT count(*) FROM ledger_entries WHERE event_key = :k", k=f"refund_succeeded:{refund_id}") \
        == [(1,)]
