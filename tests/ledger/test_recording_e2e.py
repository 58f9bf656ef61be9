"""The payment core posts to the ledger: one entry per succeeded payment and refund, never twice, and the
ledger verifies (chain, balanced entries, zero total) after a real flow on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest


def test_payments_and_refunds_are_posted_once(any_platform: PlatformUnderTest) -> None:
    from indiepay.ledger import service, verify

    merchant = any_platform.merchant()
    merchant.sandbox_account("alipay")
    payment = merchant.create_payment("alipay_qr", amount=10_000).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    for amount in (3_333, 6_667):  # partial, then the rest
        refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": amount}).json()
        merchant.wait_status(f"/v1/refunds/{refund['id']}", "succeeded")
    # a late query or a replayed callback re-applies nothing and posts nothing
    from indiepay.payments.sync import query_and_apply

    query_and_apply(any_platform.runtime.ctx, payment["id"], source="test")
    with any_platform.runtime.ctx.db.read() as session:
        result = verify.verify(session)
        assert result.ok, result.reason
        page = service.entries(session, merchant_id=merchant.id)
        balances = {b.code: b.natural for b in service.balances(session, merchant.id)}
        raw_total = sum(b.balance for b in service.balances(session))
    assert sorted(e.event_type for e in page.entries) == ["payment_succeeded", "refund_succeeded",
                                                           "refund_succeeded"]
    assert raw_total == 0
    mid = merchant.id
    # fully refunded: the channel fee came back in full and nothing is left in clearing
    assert balances[f"memo_clearing:{mid}:alipay:CNY"] == 0
    assert balances[f"memo_channel_fee:{mid}:alipay:CNY"] == 0
    assert abs(balances[f"memo_sales:{mid}:CNY"]) == 10_000
    assert abs(balances[f"memo_refunds:{mid}:CNY"]) == 10_000
