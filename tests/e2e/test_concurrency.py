"""Money under concurrency: twenty simultaneous 60 % refunds admit exactly one."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import text

from tests.support.platform import PlatformUnderTest


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr")])
def test_twenty_concurrent_partial_refunds_of_sixty_percent(any_platform: PlatformUnderTest, channel: str,
                                                            method: str) -> None:
    merchant = any_platform.merchant()
    merchant.sandbox_account(channel)
    payment = merchant.create_payment(method, amount=10_000).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    headers = dict(merchant.api.headers)

    def refund(i: int) -> httpx.Response:
        with httpx.Client(base_url=any_platform.base_url, headers=headers, timeout=60) as client:
            return client.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 6_000,
                                                    "out_refund_no": f"CONC-REFUND-{i:03d}"})

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(refund, range(20)))
    accepted = [r for r in responses if r.status_code == 201]
    refused = [r for r in responses if r.status_code == 409]
    assert len(accepted) == 1, [r.text for r in responses if r.status_code != 409]
    assert len(refused) == 19
    assert {r.json()["error"]["code"] for r in refused} == {"refund_exceeds_refundable"}
    merchant.wait_status(f"/v1/refunds/{accepted[0].json()['id']}", "succeeded")
    final = merchant.api.get(f"/v1/payments/{payment['id']}").json()
    assert final["refunded_amount"] == 6_000 <= final["amount"]
    with any_platform.runtime.ctx.db.transaction() as session:
        rows = session.execute(text("SELECT count(*), coalesce(sum(amount), 0) FROM refunds")).one()
        calls = session.execute(text("SELECT count(*) FROM channel_calls WHERE operation = 'refund'")).scalar()
    assert tuple(rows) == (1, 6_000)
    assert calls == 1
