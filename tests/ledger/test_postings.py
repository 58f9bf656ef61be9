"""Every posting builder balances, in integer fen, with the documented accounts and signs."""

from __future__ import annotations

import pytest

from indiepay.core.errors import InvalidRequest
from indiepay.ledger import accounts as acc
from indiepay.ledger import postings as p
from indiepay.ledger.postings import LedgerUnbalanced, PostingPlan

M = "mch_a"


def by_code(plan: PostingPlan) -> dict[str, int]:
    assert sum(amount for _, amount in plan.lines()) == 0
    assert [code for code, _ in plan.lines()] == sorted(code for code, _ in plan.lines())
    return dict(plan.lines())


def test_account_codes() -> None:
    assert acc.merchant_payable(M).code == "merchant_payable:mch_a:CNY"
    assert acc.platform_clearing("wechatpay").code == "platform_clearing:wechatpay:CNY"
    assert acc.platform_fee_revenue().code == "platform_fee_revenue:CNY"
    assert acc.distributor_payable(M, "dist_1").code == "distributor_payable:mch_a:dist_1:CNY"
    assert acc.memo_clearing(M, "alipay").code == "memo_clearing:mch_a:alipay:CNY"
    assert acc.memo_clearing(M, "alipay").memo and not acc.merchant_payable(M).memo
    with pytest.raises(ValueError):
        acc.merchant_payable("mch:evil")
    assert acc.natural_balance("merchant_payable", -100) == 100
    assert acc.natural_balance("platform_clearing", 100) == 100


def test_platform_payment() -> None:
    plan = p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=10_000,
                               channel_fee=60, platform_fee=80)
    assert plan.event_type == "payment_succeeded" and plan.merchant_id == M and plan.currency == "CNY"
    # the merchant bears the channel's fee too: owed 10_000 − 80 − 60; the platform's fee expense is recharged
    assert by_code(plan) == {"platform_clearing:wechatpay:CNY": 9_940, "channel_fee_expense:wechatpay:CNY": 60,
                             "merchant_payable:mch_a:CNY": -9_860, "platform_fee_revenue:CNY": -80,
                             "channel_fee_recharged:wechatpay:CNY": -60}


def test_independent_payment_is_memo_plus_the_platform_fee() -> None:
    plan = p.payment_succeeded(mode="independent", channel="alipay", merchant_id=M, amount=10_000,
                               channel_fee=60, platform_fee=20)
    assert by_code(plan) == {"memo_clearing:mch_a:alipay:CNY": 9_940, "memo_channel_fee:mch_a:alipay:CNY": 60,
                             "memo_sales:mch_a:CNY": -10_000, "merchant_payable:mch_a:CNY": 20,
                             "platform_fee_revenue:CNY": -20}


def test_one_fen_payment_without_fees_drops_zero_postings() -> None:
    plan = p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=1, channel_fee=0,
                               platform_fee=0)
    assert by_code(plan) == {"platform_clearing:wechatpay:CNY": 1, "merchant_payable:mch_a:CNY": -1}
    memo = p.payment_succeeded(mode="independent", channel="wechatpay", merchant_id=M, amount=1, channel_fee=0,
                               platform_fee=0)
    assert by_code(memo) == {"memo_clearing:mch_a:wechatpay:CNY": 1, "memo_sales:mch_a:CNY": -1}


def test_refunds_mirror_payments() -> None:
    plan = p.refund_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=5_000,
                              channel_fee_returned=30, platform_fee_returned=40)
    assert by_code(plan) == {"merchant_payable:mch_a:CNY": 4_930, "platform_fee_revenue:CNY": 40,
                             "channel_fee_recharged:wechatpay:CNY": 30,
                             "platform_clearing:wechatpay:CNY": -4_970, "channel_fee_expense:wechatpay:CNY": -30}
    memo = p.refund_succeeded(mode="independent", channel="alipay", merchant_id=M, amount=5_000,
                              channel_fee_returned=30, platform_fee_returned=10)
    assert by_code(memo) == {"memo_refunds:mch_a:CNY": 5_000, "memo_clearing:mch_a:alipay:CNY": -4_970,
                             "memo_channel_fee:mch_a:alipay:CNY": -30, "platform_fee_revenue:CNY": 10,
                             "merchant_payable:mch_a:CNY": -10}


def test_full_refund_nets_a_payment_to_zero() -> None:
    pay = p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=999, channel_fee=6,
                              platform_fee=8)
    back = p.refund_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=999,
                              channel_fee_returned=6, platform_fee_returned=8)
    net: dict[str, int] = {}
    for code, amount in pay.lines() + back.lines():
        net[code] = net.get(code, 0) + amount
    assert set(net.values()) == {0}


def test_settlement_and_payouts() -> None:
    assert by_code(p.settlement(merchant_id=M, amount=900)) == {"merchant_payable:mch_a:CNY": 900,
                                                                "payout_in_transit:mch_a:CNY": -900}
    assert by_code(p.payout_paid(merchant_id=M, amount=900, source_channel="wechatpay")) == {
        "payout_in_transit:mch_a:CNY": 900, "platform_clearing:wechatpay:CNY": -900}
    assert by_code(p.payout_failed(merchant_id=M, amount=900)) == {"payout_in_transit:mch_a:CNY": 900,
                                                                   "merchant_payable:mch_a:CNY": -900}
    assert by_code(p.payout_failed(merchant_id=M, amount=900, source_channel="alipay", after_paid=True)) == {
        "platform_clearing:alipay:CNY": 900, "merchant_payable:mch_a:CNY": -900}
    with pytest.raises(InvalidRequest):
        p.payout_failed(merchant_id=M, amount=900, after_paid=True)


def test_fee_and_profit_share() -> None:
    assert by_code(p.fee(merchant_id=M, amount=500)) == {"merchant_payable:mch_a:CNY": 500,
                                                         "platform_fee_revenue:CNY": -500}
    assert by_code(p.profit_share(merchant_id=M, distributor_id="d1", amount=50)) == {
        "merchant_payable:mch_a:CNY": 50, "distributor_payable:mch_a:d1:CNY": -50}


def test_correction_and_reverse() -> None:
    fix = p.correction(lines=[(acc.platform_clearing("alipay"), 3), (acc.channel_fee_expense("alipay"), -3)],
                       description="channel fee per bill")
    assert by_code(fix) == {"platform_clearing:alipay:CNY": 3, "channel_fee_expense:alipay:CNY": -3}
    pay = p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=100, channel_fee=1,
                              platform_fee=1)
    undo = p.reverse(pay)
    assert undo.event_type == "correction"
    assert by_code(undo) == {code: -amount for code, amount in pay.lines()}
    with pytest.raises(InvalidRequest):
        p.correction(lines=[(acc.platform_clearing("alipay"), 3), (acc.channel_fee_expense("alipay"), -3)],
                     description=" ")


def test_unbalanced_or_malformed_plans_are_refused() -> None:
    with pytest.raises(LedgerUnbalanced):
        p.correction(lines=[(acc.platform_clearing("alipay"), 3), (acc.channel_fee_expense("alipay"), -2)],
                     description="x")
    with pytest.raises(LedgerUnbalanced):
        p.correction(lines=[(acc.platform_clearing("alipay"), 3), (acc.platform_clearing("alipay"), -3)],
                     description="nets to nothing")
    with pytest.raises(LedgerUnbalanced):
        p.correction(lines=[(acc.platform_fee_revenue("CNY"), 3), (acc.platform_fee_revenue("USD"), -3)],
                     description="two currencies")
    with pytest.raises(InvalidRequest):
        p.correction(lines=[(acc.platform_clearing("alipay"), 1.5), (acc.channel_fee_expense("alipay"), -1.5)],  # type: ignore[list-item]
                     description="floats")
    with pytest.raises(InvalidRequest):
        p.plan("made_up", [(acc.platform_clearing("alipay"), 1), (acc.channel_fee_expense("alipay"), -1)])


@pytest.mark.parametrize(("amount", "channel_fee", "platform_fee"), [(0, 0, 0), (10, 11, 0), (10, 0, -1)])
def test_bad_payment_amounts_are_refused(amount: int, channel_fee: int, platform_fee: int) -> None:
    with pytest.raises(InvalidRequest):
        p.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=M, amount=amount,
                            channel_fee=channel_fee, platform_fee=platform_fee)
    with pytest.raises(InvalidRequest):
        p.settlement(merchant_id=M, amount=0)
