"""The advisor over a database (SQLite and PostgreSQL): trailing volumes, the rates it picks, and the
reusable readiness checklist, item by item, in live and test mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from indiepay.accounts.models import ChannelAccount
from indiepay.advisor import service
from indiepay.core.clock import FixedClock
from indiepay.core.errors import NotFound
from indiepay.db.engine import Database
from indiepay.merchants.models import Merchant
from tests.advisor.conftest import add_account, add_merchant, add_payment, add_refund

M = "mch_adv"
NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
CLOCK = FixedClock(NOW)


def items(db: Database, *, livemode: bool = True) -> dict[str, bool]:
    with db.read() as session:
        return {c.item: c.done for c in service.readiness(session, M, CLOCK, livemode=livemode)}


def set_account(db: Database, account_id: str, **values: object) -> None:
    with db.transaction() as session:
        session.execute(update(ChannelAccount).where(ChannelAccount.id == account_id).values(**values))


def test_volumes_windows_and_live_mode_only(db: Database) -> None:
    add_merchant(db, M, subject_type="individual")
    account = add_account(db, M)
    big = add_payment(db, M, account, 4_000_000, NOW - timedelta(days=1))
    add_payment(db, M, account, 1_500_000, NOW - timedelta(days=29, hours=23))  # inside 30 days
    add_payment(db, M, account, 2_000_000, NOW - timedelta(days=30))  # exactly 30 days ago: 90-day only
    add_payment(db, M, account, 1_000_000, NOW - timedelta(days=60))
    add_payment(db, M, account, 9_000_000, NOW - timedelta(days=91))  # outside both
    add_payment(db, M, account, 7_000_000, NOW - timedelta(days=2), livemode=False)  # test money
    add_payment(db, M, account, 7_000_000, NOW - timedelta(days=2), status="closed")
    add_refund(db, M, big, 600_000, NOW - timedelta(hours=1))
    add_refund(db, M, big, 100_000, NOW - timedelta(hours=1), status="processing")
    add_payment(db, M, account, 5_000_000, NOW + timedelta(seconds=1))  # after "now"
    check = add_payment(db, M, account, 1, NOW - timedelta(days=3), purpose="account_verification")
    add_refund(db, M, check, 1, NOW - timedelta(days=3, seconds=-5))  # a verification is not a sale
    with db.read() as session:
        report = service.advise(session, CLOCK, M, livemode=True)
    assert report.inputs.monthly_volume == 4_000_000 + 1_500_000 - 600_000 == 4_900_000
    assert report.inputs.volume_90d == 4_900_000 + 2_000_000 + 1_000_000
    assert report.advice.stage == "startup" and report.advice.recommended_mode == "platform"
    assert any("prepare the switch" in reason for reason in report.advice.reasons)
    with db.read() as session:
        test_mode = service.advise(session, CLOCK, M, livemode=False)
    assert test_mode.inputs.monthly_volume == 7_000_000 and test_mode.advice.stage == "growth"
    assert any("register as an enterprise" in reason for reason in test_mode.advice.reasons)


def test_rates_taken_from_the_accounts(db: Database) -> None:
    add_merchant(db, M, platform_fee_bps=25, tech_fee_bps=5)
    account = add_account(db, M, fee_rate_bps=38)
    add_payment(db, M, account, 5_000_000, NOW - timedelta(days=1))
    with db.read() as session:
        only_own = service.advise(session, CLOCK, M, livemode=True).inputs
    assert (only_own.platform_channel_bps, only_own.own_channel_bps) == (60, 38)  # platform: default 60
    add_account(db, M, fee_rate_bps=55, role="backup")
    add_account(db, M, fee_rate_bps=99, status="disabled")
    add_account(db, M, fee_rate_bps=80, environment="sandbox")
    add_account(db, None, fee_rate_bps=30)
    add_account(db, None, fee_rate_bps=45, channel="alipay")
    add_account(db, None, fee_rate_bps=10, status="disabled")
    with db.read() as session:
        report = service.advise(session, CLOCK, M, livemode=True)
    inputs, fees = report.inputs, report.advice.fees
    assert (inputs.platform_channel_bps, inputs.own_channel_bps) == (30, 55)  # cheapest platform, dearest own
    assert (fees.platform_rate_bps, fees.independent_rate_bps) == (55, 60)
    assert (fees.platform_fee, fees.independent_fee, fees.difference) == (330_000, 360_000, -30_000)
    out = service.to_out(report)
    assert out.yearly_fee_difference == -30_000 and out.rates.platform_total_bps == 55
    with db.read() as session:
        sandbox = service.advise(session, CLOCK, M, livemode=False).inputs
    assert (sandbox.platform_channel_bps, sandbox.own_channel_bps) == (60, 80)


def test_readiness_items_flip_one_by_one(db: Database) -> None:
    add_merchant(db, M)
    assert items(db) == dict.fromkeys(service.rules.CHECKLIST_ITEMS, False) | {"keys_not_near_expiry": True}
    with db.transaction() as session:
        session.execute(update(Merchant).where(Merchant.id == M).values(kyc_status="complete"))
    assert items(db)["kyc_complete"] is True

    primary = add_account(db, M, settlement_bank="ICBC")
    assert items(db)["production_account_verified"] is False
    set_account(db, primary, verified_at=NOW - timedelta(days=3))
    assert items(db)["production_account_verified"] is True

    backup = add_account(db, M, role="backup", settlement_bank="ICBC")
    assert items(db)["backup_account_other_bank"] is False
    set_account(db, backup, settlement_bank="China Merchants Bank")
    assert items(db)["backup_account_other_bank"] is True
    set_account(db, backup, status="disabled")
    assert items(db)["backup_account_other_bank"] is False
    set_account(db, backup, status="active")

    set_account(db, backup, credentials_expire_at=NOW + timedelta(days=29))
    assert items(db)["keys_not_near_expiry"] is False
    set_account(db, backup, credentials_expire_at=NOW + timedelta(days=31))
    assert all(items(db).values())

    # test mode looks at sandbox accounts only
    assert items(db, livemode=False) == {"kyc_complete": True, "production_account_verified": False,
                                         "backup_account_other_bank": False, "keys_not_near_expiry": True}
    add_account(db, M, environment="sandbox", verified_at=NOW)
    assert items(db, livemode=False)["production_account_verified"] is True


def test_unknown_merchant(db: Database) -> None:
    with db.read() as session, pytest.raises(NotFound) as missing:
        service.readiness(session, "mch_nobody", CLOCK, livemode=True)
    assert missing.value.code == "merchant_not_found"
