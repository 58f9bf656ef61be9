"""A crash at any point of a refund loses no money and makes no duplicate at the channel: the refund and
its ``out_refund_no`` are committed before the channel is called, and the sync job finishes the work with
the same number whatever the channel already saw."""

from __future__ import annotations

import httpx
import pytest

from indiepay.merchants.auth import Principal
from indiepay.refunds import service as refunds
from indiepay.refunds.schemas import RefundCreate
from indiepay.refunds.sync import run_sync_job
from tests.support.platform import MerchantClient, PlatformUnderTest


def paid_payment(platform: PlatformUnderTest, channel: str, method: str) -> tuple[MerchantClient, dict, dict]:
    merchant = platform.merchant()
    _, creds = merchant.own_sandbox_account(channel)
    payment = merchant.create_payment(method, amount=10_000).json()
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    return merchant, payment, creds


def channel_refunds(platform: PlatformUnderTest, channel: str, creds: dict, out_trade_no: str) -> list[dict]:
    ident = creds["mchid"] if channel == "wechatpay" else creds["app_id"]
    order = httpx.get(f"{platform.sandbox}/{channel}/_orders/{ident}/{out_trade_no}", timeout=30).json()
    return list(order["refunds"])


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr")])
def test_crash_before_the_channel_call(platform: PlatformUnderTest, channel: str, method: str) -> None:
    merchant, payment, creds = paid_payment(platform, channel, method)
    principal = Principal(role="merchant", merchant_id=merchant.id, livemode=False)
    ctx = platform.runtime.ctx
    # the process dies right after committing the refund, before calling the channel
    refund_id = refunds._reserve(ctx, principal, RefundCreate(payment_id=payment["id"], amount=2_500))
    assert channel_refunds(platform, channel, creds, payment["out_trade_no"]) == []
    assert merchant.api.get(f"/v1/refunds/{refund_id}").json()["status"] == "processing"
    # the sync job (after restart) finds nothing at the channel and sends the same out_refund_no
    for _ in range(20):
        if run_sync_job(ctx, {"refund_id": refund_id}) is None:
            break
    done = merchant.wait_status(f"/v1/refunds/{refund_id}", "succeeded")
    seen = channel_refunds(platform, channel, creds, payment["out_trade_no"])
    assert len(seen) == 1
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 2_500
    assert done["out_refund_no"] in str(seen[0])


@pytest.mark.parametrize("channel,method", [("wechatpay", "wechat_native"), ("alipay", "alipay_qr")])
def test_crash_after_the_channel_call(platform: PlatformUnderTest, channel: str, method: str) -> None:
    merchant, payment, creds = paid_payment(platform, channel, method)
    principal = Principal(role="merchant", merchant_id=merchant.id, livemode=False)
    ctx = platform.runtime.ctx
    refund_id = refunds._reserve(ctx, principal, RefundCreate(payment_id=payment["id"], amount=2_500))
    # the channel got the request, but the process died before recording the answer
    from indiepay.accounts.models import ChannelAccount
    from indiepay.accounts.service import adapter_for
    from indiepay.channels.base import RefundRequest
    from indiepay.refunds.models import Refund

    with ctx.db.read() as session:
        refund = session.get(Refund, refund_id)
        account = session.get(ChannelAccount, payment["channel_account_id"])
        assert refund is not None and account is not None
    adapter_for(ctx, account).refund(RefundRequest(
        out_trade_no=payment["out_trade_no"], out_refund_no=refund.out_refund_no, refund_amount=2_500,
        total_amount=10_000, currency="CNY", reason=None, notify_url="http://127.0.0.1:9/lost"))
    for _ in range(50):
        if run_sync_job(ctx, {"refund_id": refund_id}) is None:
            break
    merchant.wait_status(f"/v1/refunds/{refund_id}", "succeeded")
    assert len(channel_refunds(platform, channel, creds, payment["out_trade_no"])) == 1
    assert merchant.api.get(f"/v1/payments/{payment['id']}").json()["refunded_amount"] == 2_500
