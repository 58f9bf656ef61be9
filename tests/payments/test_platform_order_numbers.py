"""Merchants collecting through the platform share its channel account, and their own order and refund
numbers are unique among their own orders only. Two merchants' ``ORDER1`` used to be one order at the
channel: the second merchant's buyer was shown the first one's QR code and paying it marked the *first*
merchant's payment paid (or, with another amount, the second merchant could not take the order at all);
a refund number another merchant had used was refused. On the shared account the channel now knows each
order and refund by a number made from IndiePay's id; on a merchant's own account, by the merchant's own."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import text

from indiepay.channels.base import ChannelRefund, RefundState
from indiepay.db.engine import Database
from indiepay.payments.order_numbers import channel_out_refund_no, channel_out_trade_no
from indiepay.payments.repository import find_by_channel_order
from indiepay.refunds.service import apply_answer
from tests.risk.test_day_usage import _merchant, _pay
from tests.support.platform import MerchantClient, PlatformUnderTest

ORDER = {"currency": "CNY", "out_trade_no": "ORDER1", "description": "Tea", "method": "wechat_native"}



def created(merchant: MerchantClient, amount: int) -> dict[str, Any]:
    answer = merchant.api.post("/v1/payments", json={**ORDER, "amount": amount})
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def test_two_merchants_order1_are_two_orders_on_the_shared_account(platform: PlatformUnderTest) -> None:
    shared = platform.platform_account("wechatpay")
    tea, cake = platform.platform_merchant("Tea"), platform.platform_merchant("Cake")
    mine, theirs = created(tea, 1_000), created(cake, 1_000)  # the same order, number and amount
    other = created(platform.platform_merchant("Rice"), 2_500)  # and another amount: no longer refused
    assert mine["channel_account_id"] == theirs["channel_account_id"] == other["channel_account_id"] == shared["id"]
    assert mine["action"]["code_url"] != theirs["action"]["code_url"]
    assert mine["out_trade_no"] == theirs["out_trade_no"] == "ORDER1"  # the merchant's own number, as it sent it
    numbers = platform.sql("SELECT id, channel_out_trade_no FROM payments WHERE out_trade_no = 'ORDER1'")
    assert {number for _, number in numbers} == {payment_id.replace("_", "") for payment_id, _ in numbers}

    tea.pay(mine)
    tea.wait_status(f"/v1/payments/{mine['id']}", "succeeded")
    platform.run_jobs_now("payment.query")
    assert cake.api.get(f"/v1/payments/{theirs['id']}").json()["status"] == "pending"  # nobody paid it
    cake.pay(theirs)
    cake.wait_status(f"/v1/payments/{theirs['id']}", "succeeded")

    # the same refund number on both: two refunds at the channel, each of its own order
    refunds = [m.api.post("/v1/refunds", json={"payment_id": p["id"], "amount": 300, "out_refund_no": "REFUND1"})
               for m, p in ((tea, mine), (cake, theirs))]
    assert all(r.status_code == 201 for r in refunds), [r.text for r in refunds]
    for merchant, refund in zip((tea, cake), refunds, strict=True):
        done = merchant.wait_status(f"/v1/refunds/{refund.json()['id']}", "succeeded")
        assert done["out_refund_no"] == "REFUND1"
    assert platform.sql("SELECT count(DISTINCT channel_out_refund_no) FROM refunds WHERE out_refund_no = 'REFUND1'") \
        == [(2,)]


def test_on_its_own_account_the_channel_knows_an_order_by_the_merchants_number(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Own")
    merchant.sandbox_account("wechatpay")
    payment = created(merchant, 1_000)
    merchant.pay(payment)
    merchant.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    refund = merchant.api.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 100,
                                                    "out_refund_no": "REFUND2"})
    assert refund.status_code == 201, refund.text
    merchant.wait_status(f"/v1/refunds/{refund.json()['id']}", "succeeded")
    assert platform.sql("SELECT channel_out_trade_no FROM payments WHERE id = :p", p=payment["id"]) == [("ORDER1",)]
    assert platform.sql("SELECT channel_out_refund_no FROM refunds WHERE out_refund_no = 'REFUND2'") == [("REFUND2",)]


def test_the_rule_for_each_mode() -> None:
    assert channel_out_trade_no("pay_3f9a", "independent", "ORDER1") == "ORDER1"
    assert channel_out_trade_no("pay_3f9a", "platform", "ORDER1") == "pay3f9a"
    assert channel_out_refund_no("re_77", "platform", "R1") == "re77"
    assert channel_out_refund_no("re_77", "independent", "R1") == "R1"


def test_an_answer_about_another_refund_is_never_applied(platform: PlatformUnderTest) -> None:
    """The channel's answer to a refund request or query is compared with our refund before it is applied
    (as a callback always was): an answer about another refund leaves ours ``processing`` and says so."""
    tea = platform.merchant("Tea")
    tea.sandbox_account("wechatpay")
    payment = created(tea, 1_000)
    tea.pay(payment)
    tea.wait_status(f"/v1/payments/{payment['id']}", "succeeded")
    platform.sql("INSERT INTO refunds (id, merchant_id, livemode, payment_id, amount, currency, status, out_refund_no,"
                 " channel_out_refund_no, query_attempts, created_at, updated_at) VALUES ('re_x', :m, false, :p, 300,"
                 " 'CNY', 'processing', 'RX', 'RX', 0, :now, :now)", m=tea.id, p=payment["id"],
                 now=platform.clock.now())
    ctx = platform.runtime.ctx
    answers = [ChannelRefund(out_refund_no="ROTHER", state=RefundState.SUCCEEDED, raw_state="SUCCESS"),
               ChannelRefund(out_refund_no="RX", state=RefundState.SUCCEEDED, raw_state="SUCCESS", amount=299),
               ChannelRefund(out_refund_no="RX", state=RefundState.SUCCEEDED, raw_state="SUCCESS",
                             out_trade_no="ORDER2")]
    for seen in answers:
        with ctx.db.transaction() as session:
            assert apply_answer(session, ctx, "re_x", seen, source="refund_query") is False
    assert platform.sql("SELECT status FROM refunds WHERE id = 're_x'") == [("processing",)]
    alerts = platform.sql("SELECT severity FROM alerts WHERE kind = 'channel_mismatch'")
    assert alerts and {severity for (severity,) in alerts} == {"critical"}
    with ctx.db.transaction() as session:  # its own answer still settles it
        assert apply_answer(session, ctx, "re_x", ChannelRefund(out_refund_no="RX", state=RefundState.SUCCEEDED,
                                                                raw_state="SUCCESS", amount=300,
                                                                out_trade_no="ORDER1"), source="refund_query")


def test_the_migration_gives_orders_written_before_it_the_numbers_they_were_sent_under(tmp_path: Path) -> None:
    """Before migration 0028 every order went to its channel under the merchant's own number: that is the
    number the channel knows it by, and what callbacks and bills about it will carry."""
    from alembic import command

    from indiepay.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'up.db'}"
    command.upgrade(alembic_config(url), "0027")
    db = Database(url)
    try:
        _merchant(db)
        at = datetime.now(UTC)
        _pay(db, "pay_old", 1_000, "succeeded", at)
        with db.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO refunds (id, merchant_id, livemode, payment_id, amount, currency, status, out_refund_no,"
                " query_attempts, created_at, updated_at) VALUES ('re_old', 'mch_u', 1, 'pay_old', 100, 'CNY',"
                " 'succeeded', 'OLDREFUND', 0, :at, :at)"), {"at": at.isoformat(" ")})
        command.upgrade(alembic_config(url), "head")
        with db.engine.connect() as connection:
            assert connection.execute(text("SELECT channel_out_trade_no FROM payments")).all() == [("pay_old",)]
            assert connection.execute(text("SELECT channel_out_refund_no FROM refunds")).all() == [("OLDREFUND",)]
            with db.read() as session:
                assert find_by_channel_order(session, "acc_a", "pay_old") is not None
    finally:
        db.dispose()
