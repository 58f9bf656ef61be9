"""The profit-sharing arithmetic: shares and refunds share one bound; names are kept masked."""

from __future__ import annotations

from indiepay.refunds import rules as refund_rules
from indiepay.sharing import rules


def decide(**overrides: object) -> rules.ShareDecision:
    values: dict[str, object] = dict(payment_status="succeeded", opened_for_sharing=True, finished=False,
                                     amount=10_000, refund_reserved=0, shared_reserved=0, requested=1_000,
                                     finish=False)
    values.update(overrides)
    return rules.decide(**values)  # type: ignore[arg-type]


def test_a_share_fits_what_refunds_and_earlier_shares_leave() -> None:
    assert decide().allowed
    assert decide(refund_reserved=6_000, shared_reserved=3_000, requested=1_000).allowed
    refused = decide(refund_reserved=6_000, shared_reserved=3_000, requested=1_001)
    assert (refused.allowed, refused.code, refused.shareable) == (False, "share_exceeds_shareable", 1_000)


def test_what_a_payment_must_be_to_be_shared() -> None:
    assert decide(payment_status="pending").code == "payment_not_shareable"
    assert decide(payment_status="closed").code == "payment_not_shareable"
    assert decide(opened_for_sharing=False).code == "payment_not_opened_for_sharing"
    assert decide(finished=True).code == "profit_sharing_finished"
    assert decide(requested=0).code == "invalid_amount"
    assert decide(requested=0, finish=True).allowed  # only unfreezing the rest


def test_refunds_leave_what_shares_hold() -> None:
    assert refund_rules.decide(payment_status="succeeded", amount=10_000, reserved=0, requested=8_500,
                               shared=1_500).allowed
    refused = refund_rules.decide(payment_status="succeeded", amount=10_000, reserved=0, requested=8_501,
                                  shared=1_500)
    assert (refused.code, refused.refundable) == ("refund_exceeds_refundable", 8_500)


def test_receiver_types_belong_to_one_channel() -> None:
    assert rules.receiver_fits("wechat_merchant", "wechatpay")
    assert rules.receiver_fits("alipay_user_id", "alipay")
    assert not rules.receiver_fits("alipay_user_id", "wechatpay")
    assert not rules.receiver_fits("bank_card", "alipay")


def test_only_a_masked_hint_of_a_name_is_kept() -> None:
    assert rules.name_hint("深圳市分销有限公司") == "*司"
    assert rules.name_hint("  ") is None
    assert rules.name_hint(None) is None
