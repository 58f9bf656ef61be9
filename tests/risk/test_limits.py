"""The limit rules: which limit a payment would pass and what remains, at every boundary."""

from __future__ import annotations

import pytest

from indiepay.risk.limits import INDIVIDUAL_DAILY_CEILING, LimitBreach, Limits, check, effective

DEFAULTS = {"individual": (1_000_000, 5_000_000), "enterprise": (10_000_000, 100_000_000)}


def test_defaults_by_subject_type_and_overrides() -> None:
    assert effective(subject_type="individual", defaults=DEFAULTS, single_override=None, daily_override=None,
                     account_daily_cap=None) == Limits(1_000_000, 5_000_000, None)
    assert effective(subject_type="enterprise", defaults=DEFAULTS, single_override=50, daily_override=70,
                     account_daily_cap=9) == Limits(50, 70, 9)
    # an individual merchant is never allowed more than ¥200,000 a day, whatever the override says
    assert effective(subject_type="individual", defaults=DEFAULTS, single_override=None,
                     daily_override=50_000_000, account_daily_cap=None).daily == INDIVIDUAL_DAILY_CEILING


@pytest.mark.parametrize(("amount", "merchant_used", "account_used", "expected"), [
    (1_000_000, 0, 0, None),
    (1_000_001, 0, 0, LimitBreach("single_payment", 1_000_001, 1_000_000, 1_000_000)),
    (500_000, 4_500_000, 0, None),
    (500_001, 4_500_000, 0, LimitBreach("merchant_daily", 500_001, 5_000_000, 500_000, 4_500_000)),
    (1, 5_000_000, 0, LimitBreach("merchant_daily", 1, 5_000_000, 0, 5_000_000)),
    (300_000, 0, 2_700_000, None),
    (300_001, 0, 2_700_000, LimitBreach("account_daily", 300_001, 3_000_000, 300_000, 2_700_000)),
])
def test_each_limit_at_its_boundary(amount: int, merchant_used: int, account_used: int,
                                    expected: LimitBreach | None) -> None:
    limits = Limits(single=1_000_000, daily=5_000_000, account_daily_cap=3_000_000)
    assert check(limits, amount=amount, merchant_used_today=merchant_used, account_used_today=account_used) == expected


def test_the_message_names_the_limit_and_what_remains() -> None:
    breach = LimitBreach("merchant_daily", 600, 1_000, 400)
    assert "daily limit of 1000 fen" in breach.message and "400 fen remain" in breach.message
