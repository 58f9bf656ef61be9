"""The pure classification of entries into statement figures: exact shapes only, reversals counted
against what they reverse, everything else an adjustment on the merchant's own accounts."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from indiepay.ledger import accounts as acc
from indiepay.ledger import fees
from indiepay.ledger import postings as p
from indiepay.ledger.accounts import AccountRef
from indiepay.statements.figures import RECONCILED_KINDS, EntryRow, PostingRow, classify

M = "mch_a"


def row(plan: p.PostingPlan, *, counts_as: str | None = None, sign: int = 1, merchant_id: str | None = M,
        sequence: int = 1) -> EntryRow:
    refs: dict[str, AccountRef] = {posting.account.code: posting.account for posting in plan.postings}
    return EntryRow(id=f"le_{sequence}", sequence=sequence, merchant_id=merchant_id,
                    counts_as=plan.event_type if counts_as is None else counts_as, sign=sign,
                    postings=tuple(PostingRow(code=code, kind=refs[code].kind, merchant_id=refs[code].merchant_id,
                                              channel=refs[code].channel, amount=sign * amount)
                                   for code, amount in plan.lines()))


def payment(mode: p.Mode = "platform", amount: int = 10_000) -> p.PostingPlan:
    return p.payment_succeeded(mode=mode, channel="wechatpay", merchant_id=M, amount=amount, channel_fee=60,
                               platform_fee=40)


def test_payments_in_both_modes() -> None:
    figures = classify([row(payment("platform")), row(payment("independent"), sequence=2)], merchant_id=M,
                       currency="CNY")
    platform, independent = figures.lines[("platform", "wechatpay")], figures.lines[("independent", "wechatpay")]
    assert (platform.gross, platform.channel_fee, platform.platform_fee, platform.net) == (10_000, 60, 40, 9_900)
    assert (independent.gross, independent.channel_fee, independent.platform_fee) == (10_000, 60, 40)
    assert figures.explained_change("merchant_payable") == -(9_900 - 40)
    assert figures.explained_change("memo_sales") == -10_000
    assert figures.adjustment_count == 0 and figures.last_sequence == 2


def test_a_reversal_and_a_reversal_of_it() -> None:
    original = payment()
    figures = classify([row(original), row(original, counts_as="payment_succeeded", sign=-1, sequence=2),
                        row(original, counts_as="payment_succeeded", sign=1, sequence=3)],
                       merchant_id=M, currency="CNY")
    line = figures.lines[("platform", "wechatpay")]
    assert (line.payment_count, line.gross, line.net) == (1, 10_000, 9_900)
    assert figures.adjustment_count == 0


def test_an_entry_of_an_unexpected_shape_is_an_adjustment_not_volume() -> None:
    # postings of a settlement filed as a payment: never read as volume
    settlement = p.settlement(merchant_id=M, amount=500)
    figures = classify([row(settlement, counts_as="payment_succeeded")], merchant_id=M, currency="CNY")
    assert figures.lines == {} and figures.adjustment_count == 1
    assert figures.adjustments["merchant_payable"] == 500
    # a payment whose fee legs do not match the builder's (channel fee expense != recharged)
    odd = p.plan("payment_succeeded", [
        (acc.platform_clearing("wechatpay"), 9_940), (acc.channel_fee_expense("wechatpay"), 60),
        (acc.merchant_payable(M), -9_950), (acc.channel_fee_recharged("wechatpay"), -50)], merchant_id=M)
    figures = classify([row(odd)], merchant_id=M, currency="CNY")
    assert figures.lines == {} and figures.adjustments["merchant_payable"] == -9_950


def test_another_merchants_entry_counts_only_on_this_merchants_accounts() -> None:
    moved = p.correction(lines=[(acc.merchant_payable(M), 50), (acc.merchant_payable("mch_b"), -50)],
                         description="moved")
    figures = classify([row(moved, merchant_id=None)], merchant_id=M, currency="CNY")
    assert dict(figures.adjustments) == {"merchant_payable": 50}


def test_two_legged_events() -> None:
    plans = [p.settlement(merchant_id=M, amount=1_000), p.fee(merchant_id=M, amount=30),
             p.payout_paid(merchant_id=M, amount=1_000, source_channel="alipay"),
             p.payout_failed(merchant_id=M, amount=200, source_channel="alipay", after_paid=True),
             p.payout_failed(merchant_id=M, amount=100),
             p.profit_share(merchant_id=M, distributor_id="dist_9", amount=70)]
    figures = classify([row(plan, sequence=n) for n, plan in enumerate(plans, start=1)], merchant_id=M,
                       currency="CNY")
    assert (figures.settled, figures.other_fees, figures.paid_out, figures.payouts_returned,
            figures.profit_shared) == (1_000, 30, 1_000, 300, 70)
    assert figures.adjustment_count == 0
    assert figures.explained_change("merchant_payable") == 1_000 + 30 - 300 + 70


def test_a_payout_funded_by_several_clearing_accounts() -> None:
    split = p.plan("payout_paid", [(acc.payout_in_transit(M), 1_000), (acc.platform_clearing("wechatpay"), -600),
                                   (acc.platform_clearing("alipay"), -400)], merchant_id=M)
    odd = p.plan("payout_paid", [(acc.payout_in_transit(M), 1_000), (acc.merchant_payable(M), -1_000)],
                 merchant_id=M)
    figures = classify([row(split), row(split, counts_as="payout_paid", sign=-1, sequence=2), row(split, sequence=3),
                        row(odd, sequence=4)], merchant_id=M, currency="CNY")
    assert figures.paid_out == 1_000 and figures.adjustment_count == 1
    assert figures.adjustments["merchant_payable"] == -1_000


EVENT = st.tuples(st.sampled_from(["platform", "independent"]), st.sampled_from(["wechatpay", "alipay"]),
                  st.integers(1, 2_000_000), st.integers(0, 250), st.integers(0, 250),
                  st.lists(st.integers(1, 100), max_size=3), st.booleans())


@settings(max_examples=150, deadline=None)
@given(st.lists(EVENT, max_size=12), st.integers(0, 50_000))
def test_any_month_of_payments_and_refunds_is_explained(
        events: list[tuple[str, str, int, int, int, list[int], bool]], settle: int) -> None:
    """Payments in both modes, partial refunds (cumulative fee return), reversals of payments, a settlement:
    the figures explain every reconciled account exactly, and the lines add up to the totals."""
    entries: list[EntryRow] = []
    for mode, channel, amount, channel_bps, platform_bps, refund_parts, reverse in events:
        channel_fee = fees.fee_for(amount, fees.bps(channel_bps))
        platform_fee = fees.fee_for(amount, fees.bps(platform_bps))
        plan = p.payment_succeeded(mode=mode, channel=channel, merchant_id=M, amount=amount,
                                   channel_fee=channel_fee, platform_fee=platform_fee)
        entries.append(row(plan, sequence=len(entries) + 1))
        if reverse:
            entries.append(row(plan, counts_as="payment_succeeded", sign=-1, sequence=len(entries) + 1))
            continue
        refunded = 0
        for part in refund_parts:
            refund = min(max(amount * part // 300, 1), amount - refunded)
            if refund <= 0:
                break
            entries.append(row(p.refund_succeeded(
                mode=mode, channel=channel, merchant_id=M, amount=refund,
                channel_fee_returned=fees.refund_fee(amount=amount, fee=channel_fee, refunded_before=refunded,
                                                     refund=refund),
                platform_fee_returned=fees.refund_fee(amount=amount, fee=platform_fee, refunded_before=refunded,
                                                      refund=refund)), sequence=len(entries) + 1))
            refunded += refund
    if settle:
        entries.append(row(p.settlement(merchant_id=M, amount=settle), sequence=len(entries) + 1))
    figures = classify(entries, merchant_id=M, currency="CNY")
    assert figures.adjustment_count == 0
    for kind in RECONCILED_KINDS:
        direct = sum(posting.amount for entry in entries for posting in entry.postings if posting.kind == kind)
        assert figures.explained_change(kind) == direct, kind
    kept = [event for event in events if not event[6]]
    totals = figures.totals()
    assert totals.payment_count == len(kept) and totals.gross == sum(event[2] for event in kept)
    assert totals.refunds == sum(-posting.amount for entry in entries if entry.counts_as == "refund_succeeded"
                                 for posting in entry.postings
                                 if posting.kind in ("platform_clearing", "channel_fee_expense", "memo_clearing",
                                                     "memo_channel_fee"))
    assert totals.net == sum(line.net for line in figures.lines.values())
    assert figures.settled == settle
