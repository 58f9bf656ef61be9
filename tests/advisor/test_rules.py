"""The advisor's pure rules: the documented stage boundaries, exact yearly fee arithmetic (hand-computed
fen, including a half-fen that rounds up), reasons that quote the numbers, and each checklist item."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from indiepay.advisor import rules
from indiepay.advisor.rules import AccountFacts

BASE = rules.Inputs(monthly_volume=0, volume_90d=0, subject_type="enterprise", current_mode="platform",
                    platform_channel_bps=60, platform_fee_bps=40, own_channel_bps=60, tech_fee_bps=0)


@pytest.mark.parametrize(("yuan_a_month", "stage", "mode"), [
    (49_999, "startup", "platform"), (50_000, "growth", "independent"),
    (500_000, "growth", "independent"), (500_001, "mature", "independent")])
def test_stage_boundaries(yuan_a_month: int, stage: str, mode: str) -> None:
    advice = rules.advise(replace(BASE, monthly_volume=yuan_a_month * 100, volume_90d=yuan_a_month * 300))
    assert (advice.stage, advice.recommended_mode) == (stage, mode)
    assert f"¥{yuan_a_month:,}.00" in advice.reasons[0]


def test_yearly_fee_difference_at_the_growth_floor() -> None:
    # ¥50,000 a month → ¥600,000 a year; platform 0.60 % + 0.40 % = 1 % → ¥6,000; independent 0.60 % → ¥3,600
    advice = rules.advise(replace(BASE, monthly_volume=5_000_000, volume_90d=15_000_000))
    assert advice.fees.yearly_volume == 60_000_000
    assert (advice.fees.platform_fee, advice.fees.independent_fee, advice.fees.difference) == (
        600_000, 360_000, 240_000)
    assert any("saves ¥2,400.00 a year" in reason for reason in advice.reasons)


def test_a_half_fen_rounds_up() -> None:
    # 5,000,050 fen a month → 60,000,600 a year; × 0.75 % = 450,004.5 → 450,005 (half-even would say 450,004)
    # independent × 0.70 % = 420,004.2 → 420,004
    inputs = replace(BASE, monthly_volume=5_000_050, platform_channel_bps=60, platform_fee_bps=15,
                     own_channel_bps=60, tech_fee_bps=10)
    fees = rules.compare_fees(inputs)
    assert (fees.yearly_volume, fees.platform_rate_bps, fees.independent_rate_bps) == (60_000_600, 75, 70)
    assert (fees.platform_fee, fees.independent_fee, fees.difference) == (450_005, 420_004, 30_001)
    reason = next(r for r in rules.advise(inputs).reasons if r.startswith("On ¥"))
    assert "¥600,006.00 a year" in reason and "¥4,500.05 (0.75%" in reason and "saves ¥300.01 a year" in reason
    # the smallest half-fen: 50 fen a month → 600 a year × 0.75 % = 4.5 → 5
    small = rules.compare_fees(replace(inputs, monthly_volume=50))
    assert (small.platform_fee, small.independent_fee) == (5, 4)


def test_dearer_independent_mode_and_no_volume() -> None:
    costly = rules.advise(replace(BASE, monthly_volume=5_000_000, platform_fee_bps=0, tech_fee_bps=30))
    assert costly.fees.difference == 600_000 * 60 // 100 - 600_000 * 90 // 100 == -180_000
    assert any("costs ¥1,800.00 more a year" in reason for reason in costly.reasons)
    nothing = rules.advise(replace(BASE, monthly_volume=-500))  # refunds outweighed payments
    assert nothing.stage == "startup" and nothing.fees.yearly_volume == 0 and nothing.fees.difference == 0


def test_startup_prepares_the_switch_only_when_stable() -> None:
    def prepared(v30: int, v90: int) -> bool:
        return any("prepare the switch" in r for r in rules.advise(replace(BASE, monthly_volume=v30,
                                                                            volume_90d=v90)).reasons)

    assert prepared(2_000_001, 6_000_003)
    assert not prepared(2_000_000, 9_000_000)  # exactly ¥20,000 is not above it
    assert not prepared(3_000_000, 6_000_000)  # 90-day average exactly ¥20,000
    assert not prepared(4_000_000, 5_000_000)  # a recent spike on a thin quarter
    reasons = rules.advise(replace(BASE, monthly_volume=3_000_000, volume_90d=7_500_000)).reasons
    assert any("¥30,000.00 in the last 30 days, ¥25,000.00 a month on average" in r for r in reasons)


def test_growth_individual_must_register_and_mature_splits() -> None:
    individual = rules.advise(replace(BASE, monthly_volume=10_000_000, subject_type="individual"))
    assert any("register as an enterprise" in r for r in individual.reasons)
    enterprise = rules.advise(replace(BASE, monthly_volume=10_000_000))
    assert not any("register as an enterprise" in r for r in enterprise.reasons)
    mature = rules.advise(replace(BASE, monthly_volume=60_000_000, current_mode="independent"))
    assert any("several merchant accounts" in r and "profit sharing" in r for r in mature.reasons)
    assert mature.reasons[-1] == "You already use independent collection."


NOW = datetime(2026, 11, 20, tzinfo=UTC)


def account(role: str = "primary", *, verified: bool = True, bank: str | None = "ICBC",
            expires: datetime | None = None) -> AccountFacts:
    return AccountFacts(role=role, verified=verified, settlement_bank=bank, credentials_expire_at=expires)


def done(kyc: str = "complete", *accounts: AccountFacts) -> dict[str, bool]:
    return {c.item: c.done for c in rules.checklist(kyc_status=kyc, accounts=accounts, now=NOW)}


def test_checklist_items_flip() -> None:
    ready = done("complete", account(), account("backup", bank="China Merchants Bank"))
    assert ready == dict.fromkeys(rules.CHECKLIST_ITEMS, True)
    assert list(ready) == list(rules.CHECKLIST_ITEMS)
    assert done("pending", account(), account("backup", bank="CMB"))["kyc_complete"] is False
    assert done("complete", account(verified=False), account("backup", verified=False, bank="CMB"))[
        "production_account_verified"] is False
    assert done("complete", account(), account("backup", bank=" icbc "))["backup_account_other_bank"] is False
    assert done("complete", account(), account("backup", bank=None))["backup_account_other_bank"] is False
    assert done("complete", account(bank=None), account("backup", bank="CMB"))["backup_account_other_bank"] is False
    assert done("complete", account(), account(bank="CMB"))["backup_account_other_bank"] is False  # no backup
    soon = NOW + timedelta(days=30)
    assert done("complete", account(expires=soon))["keys_not_near_expiry"] is False
    assert done("complete", account(expires=NOW - timedelta(days=1)))["keys_not_near_expiry"] is False
    assert done("complete", account(expires=soon + timedelta(seconds=1)))["keys_not_near_expiry"] is True
    assert done("complete")["keys_not_near_expiry"] is True and done("complete")[
        "production_account_verified"] is False
