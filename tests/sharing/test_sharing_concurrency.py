"""Shares and refunds racing on one payment never hold more than was paid, on SQLite and PostgreSQL."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx

from indiepay.channels.sharing import ChannelSharing, SharingState, TransferOutcome, TransferResult
from indiepay.sharing.service import apply_channel_state
from tests.sharing.sharing_support import paid_payment, wechat_receiver
from tests.support.concurrency import race
from tests.support.platform import PlatformUnderTest


def test_racing_shares_and_refunds_stay_within_the_paid_amount(any_platform: PlatformUnderTest) -> None:
    merchant = any_platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    receivers = [wechat_receiver(merchant, account["id"])["id"] for _ in range(2)]
    payment = paid_payment(merchant, "wechatpay", amount=10_000)

    def act(i: int) -> tuple[str, httpx.Response]:
        with httpx.Client(base_url=any_platform.base_url, headers=dict(merchant.api.headers), timeout=60) as client:
            if i % 2:
                return "refund", client.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 4_000})
            return "share", client.post("/v1/profit_sharing/orders", json={
                "payment_id": payment["id"], "receivers": [{"receiver_id": receivers[i // 2 % 2], "amount": 2_500}]})

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(act, range(16)))
    refused = [r for _, r in outcomes if r.status_code == 409]
    assert {r.json()["error"]["code"] for r in refused} <= {"refund_exceeds_refundable", "share_exceeds_shareable"}
    refunds = [r.json() for kind, r in outcomes if kind == "refund" and r.status_code == 201]
    shares = [r.json() for kind, r in outcomes if kind == "share" and r.status_code == 201]
    held = sum(r["amount"] for r in refunds) + sum(s["amount"] for s in shares if s["status"] != "failed")
    assert 0 < held <= 10_000 and len(refunds) + len(shares) + len(refused) == 16
    row = any_platform.sql("SELECT refund_reserved, shared_reserved FROM payments WHERE id = :id", id=payment["id"])
    refund_reserved, shared_reserved = row[0]
    assert refund_reserved == sum(r["amount"] for r in refunds)
    assert shared_reserved == sum(s["amount"] for s in shares if s["status"] != "failed")
    assert refund_reserved + shared_reserved <= 10_000


def test_racing_appliers_of_one_answer_release_a_closed_share_once(any_platform: PlatformUnderTest) -> None:
    """The create request and its sync job may apply the channel's answer at the same moment: a closed
    line gives its money back once, the order finishes once, one webhook event."""
    merchant = any_platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    receiver = wechat_receiver(merchant, account["id"])
    payment = paid_payment(merchant, "wechatpay", amount=10_000)
    order = merchant.api.post("/v1/profit_sharing/orders", json={
        "payment_id": payment["id"], "receivers": [{"receiver_id": receiver["id"], "amount": 2_000}]}).json()
    assert order["status"] == "processing"
    seen = ChannelSharing(out_order_no=order["out_order_no"], state=SharingState.FINISHED, raw_state="FINISHED",
                          transfers=(TransferOutcome(account=receiver["account"], amount=2_000,
                                                     result=TransferResult.CLOSED, fail_reason="NO_RELATION"),))
    ctx = any_platform.runtime.ctx
    finished: list[bool] = []

    def apply(_: int) -> None:
        with ctx.db.transaction() as session:
            finished.append(apply_channel_state(session, ctx, order["id"], seen))

    assert race(8, apply) == []
    assert finished.count(True) == 1
    row = any_platform.sql("SELECT shared_reserved FROM payments WHERE id = :id", id=payment["id"])
    assert row[0][0] == 0
    events = any_platform.sql("SELECT count(*) FROM events WHERE type = 'sharing_order.finished'")
    assert events[0][0] == 1
    assert merchant.api.get(f"/v1/profit_sharing/orders/{order['id']}").json()["receivers"][0]["result"] == "closed"
