"""Fee rounding: half up per payment, proportional cumulative refunds that never lose or invent a fen."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from indiepay.core.errors import InvalidRequest
from indiepay.ledger.fees import STANDARD_CHANNEL_RATE, FeeSchedule, bps, fee_for, fee_for_bps, refund_fee


def test_standard_rate_rounds_half_up_to_the_fen() -> None:
    assert fee_for(1, STANDARD_CHANNEL_RATE) == 0  # 0.006 fen
    assert fee_for(83, STANDARD_CHANNEL_RATE) == 0  # 0.498
    assert fee_for(84, STANDARD_CHANNEL_RATE) == 1  # 0.504
    assert fee_for(250, Decimal("0.006")) == 2  # 1.5 exactly: half goes up
    assert fee_for(249, Decimal("0.006")) == 1  # 1.494
    assert fee_for(10_000, STANDARD_CHANNEL_RATE) == 60
    assert fee_for(0, STANDARD_CHANNEL_RATE) == 0


def test_basis_points_equal_decimal_rates() -> None:
    assert bps(60) == Decimal("0.006")
    assert fee_for(12_345, bps(60)) == fee_for(12_345, Decimal("0.006")) == 74  # 74.07
    assert FeeSchedule(channel_rate=bps(38), platform_rate=bps(100)).platform_fee(150) == 2  # 1.5 → 2


def test_a_fee_never_exceeds_the_amount() -> None:
    assert fee_for(1, Decimal(1)) == 1
    assert fee_for(3, Decimal("0.5")) == 2  # 1.5 → 2


@pytest.mark.parametrize("rate", [Decimal("-0.01"), Decimal("1.5"), Decimal("NaN"), 0.006])
def test_bad_rates_are_refused(rate: object) -> None:
    with pytest.raises(InvalidRequest):
        fee_for(100, rate)  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        bps(-1)


def test_full_refund_returns_exactly_the_fee() -> None:
    assert refund_fee(amount=1, fee=1, refunded_before=0, refund=1) == 1
    assert refund_fee(amount=10_000, fee=60, refunded_before=0, refund=10_000) == 60


def test_partial_refunds_of_a_one_fen_fee() -> None:
    # fee 1 on 100: refunds of 49, 1, 50 return 0 (0.49), 1 (cumulative 0.5 → 1), 0 (1 → 1)
    assert refund_fee(amount=100, fee=1, refunded_before=0, refund=49) == 0
    assert refund_fee(amount=100, fee=1, refunded_before=49, refund=1) == 1
    assert refund_fee(amount=100, fee=1, refunded_before=50, refund=50) == 0


def test_a_hundred_one_fen_refunds_return_the_whole_fee() -> None:
    returned = [refund_fee(amount=100, fee=7, refunded_before=n, refund=1) for n in range(100)]
    assert sum(returned) == 7 and min(returned) >= 0


def test_refunds_beyond_the_payment_are_refused() -> None:
    with pytest.raises(InvalidRequest):
        refund_fee(amount=100, fee=1, refunded_before=60, refund=41)
    with pytest.raises(InvalidRequest):
        refund_fee(amount=100, fee=1, refunded_before=0, refund=0)


@given(amount=st.integers(1, 10**10), rate_bps=st.integers(0, 10_000),
       cuts=st.lists(st.integers(1, 10**10), max_size=30))
def test_partial_refunds_never_return_more_than_the_fee(amount: int, rate_bps: int, cuts: list[int]) -> None:
    fee = fee_for(amount, bps(rate_bps))
    assert 0 <= fee <= amount
    refunded = returned = 0
    for cut in cuts:
        part = min(cut, amount - refunded)
        if part == 0:
            break
        back = refund_fee(amount=amount, fee=fee, refunded_before=refunded, refund=part)
        assert back >= 0
        refunded += part
        returned += back
        assert returned <= fee
    if refunded < amount:  # finish with a full refund of the rest
        returned += refund_fee(amount=amount, fee=fee, refunded_before=refunded, refund=amount - refunded)
    assert returned == fee


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10_000))
def test_the_integer_fee_is_the_decimal_fee(amount: int, points: int) -> None:
    """fee_for_bps (integers: the export's and the matcher's SQL) is fee_for at bps(points), fen for fen."""
    assert fee_for_bps(amount, points) == fee_for(amount, bps(points))
