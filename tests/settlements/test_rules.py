"""The pure settlement rules: Beijing business-day windows (whatever the server's TZ), the breakdown
arithmetic and its invariant, payout funding and retry delays."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.errors import InvalidRequest
from indiepay.ledger import postings
from indiepay.settlements import rules
from indiepay.settlements.rules import DayFigures


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize(("day", "start", "end"), [
    (date(2026, 11, 25), utc(2026, 11, 24, 16), utc(2026, 11, 25, 16)),
    (date(2026, 1, 31), utc(2026, 1, 30, 16), utc(2026, 1, 31, 16)),  # month boundary
    (date(2026, 2, 28), utc(2026, 2, 27, 16), utc(2026, 2, 28, 16)),
    (date(2028, 2, 29), utc(2028, 2, 28, 16), utc(2028, 2, 29, 16)),  # leap day
    (date(2026, 12, 31), utc(2026, 12, 30, 16), utc(2026, 12, 31, 16)),  # year boundary
    (date(2027, 1, 1), utc(2026, 12, 31, 16), utc(2027, 1, 1, 16)),
])
def test_day_window_is_beijing_midnight_to_midnight(day: date, start: datetime, end: datetime) -> None:
    assert rules.day_window(day) == (start, end)
    assert rules.day_start(day) == start and rules.cutoff(day) == end
    assert rules.settlement_instant(day) == end - timedelta(microseconds=1)
    assert rules.cutoff(day).tzinfo is UTC


@pytest.fixture(params=["UTC", "America/Los_Angeles", "Asia/Tokyo", "Pacific/Kiritimati"])
def server_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = before
        time.tzset()


def test_windows_do_not_depend_on_the_server_timezone(server_tz: str) -> None:
    assert rules.day_window(date(2026, 3, 8)) == (utc(2026, 3, 7, 16), utc(2026, 3, 8, 16))  # a US DST day
    assert rules.last_closed_day(utc(2026, 11, 25, 16)) == date(2026, 11, 25)
    assert rules.run_at(date(2026, 10, 31)) == utc(2026, 10, 31, 18)


def test_every_modern_day_is_24_hours_and_days_tile_without_gaps() -> None:
    day = date(2019, 1, 1)
    while day < date(2031, 1, 1):
        start, end = rules.day_window(day)
        assert end - start == timedelta(hours=24)
        assert start.astimezone(BUSINESS_TZ).time() == datetime.min.time()
        assert rules.day_start(day + timedelta(days=1)) == end
        day += timedelta(days=1)


def test_day_boundaries_and_when_a_day_is_over() -> None:
    day = date(2026, 11, 25)
    last_instant = utc(2026, 11, 25, 15, 59, 59, 999999)
    assert not rules.is_over(day, last_instant)
    assert rules.is_over(day, utc(2026, 11, 25, 16))
    assert rules.last_closed_day(last_instant) == date(2026, 11, 24)
    assert rules.last_closed_day(utc(2026, 11, 25, 16)) == day
    assert rules.last_closed_day(utc(2027, 1, 1, 3)) == date(2026, 12, 31)  # 11:00 on Jan 1st in Beijing
    assert rules.run_at(day) == utc(2026, 11, 25, 18)  # 02:00 on the 26th in Beijing
    assert rules.run_at(date(2026, 12, 31)) == utc(2026, 12, 31, 18)


@pytest.mark.parametrize("text", ["2026-11-25", "2028-02-29", " 2026-01-01 "])
def test_parse_business_date_accepts_iso_dates(text: str) -> None:
    assert rules.parse_business_date(text) == date.fromisoformat(text.strip())


@pytest.mark.parametrize("text", ["", "2026-2-3", "20261125", "2026/11/25", "2026-02-30", "2027-02-29",
                                  "2026-13-01", "yesterday", "2026-11-25T00:00"])
def test_parse_business_date_refuses_anything_else(text: str) -> None:
    with pytest.raises(InvalidRequest) as error:
        rules.parse_business_date(text)
    assert error.value.code == "invalid_date"


def test_breakdown_of_platform_payments_and_refunds() -> None:
    # a payment of 10_000 (P 40, C 60) and a refund of 2_500 of it (Pr 10, Cr 15), 300 owed from before
    pay = postings.payment_succeeded(mode="platform", channel="wechatpay", merchant_id="m", amount=10_000,
                                     channel_fee=60, platform_fee=40)
    ref = postings.refund_succeeded(mode="platform", channel="wechatpay", merchant_id="m", amount=2_500,
                                    channel_fee_returned=15, platform_fee_returned=10)
    lines = {p.account.kind: p.amount for p in pay.postings}
    back = {p.account.kind: p.amount for p in ref.postings}
    day_payable = lines["merchant_payable"] + back["merchant_payable"]
    figures = DayFigures(payable_postings=3, payable_before_cutoff=-300 + day_payable, payable_in_day=day_payable,
                         payable_postings_in_day=2, pay_payable=lines["merchant_payable"],
                         pay_platform_fee=lines["platform_fee_revenue"],
                         pay_channel_fee=lines["channel_fee_recharged"], refund_payable=back["merchant_payable"],
                         refund_platform_fee=back["platform_fee_revenue"],
                         refund_channel_fee=back["channel_fee_recharged"])
    b = rules.breakdown(figures)
    assert (b.payments_amount, b.refunds_amount, b.platform_fee, b.channel_fee) == (10_000, 2_500, 30, 45)
    assert b.other_amount == 0 and b.carried_in == 300
    assert b.net_amount == 300 + 9_900 - 2_475 == b.payout_amount
    assert b.status == rules.SETTLED and b.carried_forward == 0 and b.worth_a_batch


def test_breakdown_puts_tech_fees_and_returned_payouts_in_other() -> None:
    # an independent payment's technology fee (the merchant owes 80) and a failed payout of 500 coming back
    b = rules.breakdown(DayFigures(payable_postings=2, payable_before_cutoff=80 - 500, payable_in_day=80 - 500,
                                   payable_postings_in_day=2))
    assert b.other_amount == 420 and b.payments_amount == 0 and b.carried_in == 0 and b.net_amount == 420
    owing = rules.breakdown(DayFigures(payable_postings=1, payable_before_cutoff=80, payable_in_day=80,
                                       payable_postings_in_day=1))
    assert owing.status == rules.NOTHING_TO_PAY and owing.payout_amount == 0 and owing.carried_forward == -80


def test_a_quiet_day_with_nothing_owed_makes_no_batch() -> None:
    quiet = rules.breakdown(DayFigures(payable_postings=4, payable_before_cutoff=0))
    assert not quiet.worth_a_batch and quiet.status == rules.NOTHING_TO_PAY
    carried = rules.breakdown(DayFigures(payable_postings=4, payable_before_cutoff=120))
    assert carried.worth_a_batch and carried.carried_in == -120  # a debt carried forward is reported again
    zero_but_busy = rules.breakdown(DayFigures(payable_postings=2, payable_in_day=0, payable_postings_in_day=2))
    assert zero_but_busy.worth_a_batch and zero_but_busy.net_amount == 0


figure = st.integers(min_value=-10**12, max_value=10**12)


@given(st.builds(DayFigures, payable_postings=st.integers(0, 10**6), payable_before_cutoff=figure,
                 payable_in_day=figure, payable_postings_in_day=st.integers(0, 10**6), pay_payable=figure,
                 pay_platform_fee=figure, pay_channel_fee=figure, refund_payable=figure,
                 refund_platform_fee=figure, refund_channel_fee=figure))
def test_breakdown_invariant_holds_for_any_figures(figures: DayFigures) -> None:
    b = rules.breakdown(figures)
    assert (b.carried_in + b.payments_amount - b.refunds_amount - b.platform_fee - b.channel_fee
            + b.other_amount) == b.net_amount
    assert b.payout_amount + b.carried_forward == b.net_amount
    assert b.payout_amount >= 0 >= b.carried_forward
    assert b.status == (rules.SETTLED if b.payout_amount > 0 else rules.NOTHING_TO_PAY)


@given(st.lists(st.builds(DayFigures, pay_payable=figure, payable_in_day=figure), min_size=2, max_size=4))
def test_figures_of_disjoint_entry_ranges_add_up(parts: list[DayFigures]) -> None:
    total = parts[0]
    for part in parts[1:]:
        total = total + part
    assert total.pay_payable == sum(p.pay_payable for p in parts)
    assert total.payable_in_day == sum(p.payable_in_day for p in parts)


def test_payout_is_drawn_from_the_largest_clearing_balances_first() -> None:
    balances = {"alipay": 300, "wechatpay": 500, "unionpay": 100}
    assert rules.allocate_payout(400, balances) == [("wechatpay", 400)]
    assert rules.allocate_payout(700, balances) == [("wechatpay", 500), ("alipay", 200)]
    assert rules.allocate_payout(900, balances) == [("wechatpay", 500), ("alipay", 300), ("unionpay", 100)]
    assert rules.allocate_payout(50, {"wechatpay": 200, "alipay": 200}) == [("alipay", 50)]  # tie: by code
    assert rules.allocate_payout(300, {"wechatpay": 200, "alipay": 200}) == [("alipay", 200), ("wechatpay", 100)]
    # overdrawn accounts give nothing; a shortfall (never sent in practice) shows on the largest account
    assert rules.allocate_payout(100, {"wechatpay": -50, "alipay": 60}) == [("alipay", 100)]
    assert rules.allocate_payout(10, {"wechatpay": -5}) == [("wechatpay", 10)]
    assert rules.available_for_payout({"wechatpay": -50, "alipay": 60}) == 60
    with pytest.raises(InvalidRequest):
        rules.allocate_payout(10, {})
    with pytest.raises(InvalidRequest):
        rules.allocate_payout(0, balances)


@given(st.integers(1, 10**9), st.dictionaries(st.sampled_from(["alipay", "wechatpay", "unionpay", "bank"]),
                                               st.integers(-10**9, 10**9), min_size=1))
def test_allocation_always_covers_the_payout_exactly(amount: int, balances: dict[str, int]) -> None:
    plan = rules.allocate_payout(amount, balances)
    assert sum(part for _, part in plan) == amount
    assert all(part > 0 for _, part in plan) and len({c for c, _ in plan}) == len(plan)
    if rules.available_for_payout(balances) >= amount:
        assert all(part <= balances[channel] for channel, part in plan)
    entry = postings.payout_paid_from(merchant_id="m", sources=plan)
    assert sum(p.amount for p in entry.postings) == 0
    assert dict(entry.lines())["payout_in_transit:m:CNY"] == amount


def test_payout_retry_delays_back_off_to_hourly() -> None:
    delays = [rules.payout_retry_delay(n).total_seconds() for n in range(0, 12)]
    assert delays[:3] == [30, 30, 60] and delays[-1] == 3600 and delays == sorted(delays)
