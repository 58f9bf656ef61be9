"""Routing as payment creation runs it (``routing.service.choose_account``), on SQLite and PostgreSQL: the
accounts and today's usage come from the database, health from the process's breaker registry."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import FixedClock, business_day, business_day_start
from indiepay.core.errors import ChannelUnavailable, Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.routing import service
from indiepay.routing.health import HealthRegistry

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
TODAY = business_day_start(business_day(NOW))


class Shop:
    def __init__(self, db: Database) -> None:
        self.db, self.id = db, new_id("mch")
        with db.transaction() as session:
            session.add(Merchant(id=self.id, name="Shop Ltd.", short_name="Shop", subject_type="enterprise",
                                 contact_email=None, status="active", collection_mode="independent",
                                 created_at=NOW - timedelta(days=100)))

    def account(self, role: str = "primary", weight: int = 1, daily_cap: int | None = None,
                status: str = "active", channel: str = "wechatpay", owner: str | None = "self") -> str:
        account_id = new_id("acct")
        with self.db.transaction() as session:
            session.add(ChannelAccount(
                id=account_id, merchant_id=self.id if owner == "self" else None,
                owner="merchant" if owner == "self" else "platform", channel=channel, environment="production",
                role=role, weight=weight, status=status, base_url="http://gateway", credentials={},
                daily_cap=daily_cap, created_at=NOW, updated_at=NOW))
        return account_id

    def paid(self, account_id: str, amount: int, status: str = "succeeded", at: datetime = NOW) -> None:
        with self.db.transaction() as session:
            session.add(Payment(
                id=new_id("pay"), merchant_id=self.id, livemode=True, channel_account_id=account_id,
                channel="wechatpay", method="wechat_native", amount=amount, currency="CNY",
                out_trade_no=new_id("o"), description="x", status=status, collection_mode="independent",
                channel_fee_bps=60, platform_fee_bps=0, refunded_amount=0, refund_reserved=0, payer={},
                late_payment=False, query_attempts=0, expires_at=at + timedelta(hours=1), created_at=at,
                updated_at=at))

    def choose(self, health: HealthRegistry, amount: int = 1_000, platform: bool = False,
               method: str = "wechat_native") -> str:
        with self.db.transaction() as session:
            chosen = service.choose_account(session, health, merchant_id=None if platform else self.id,
                                             channel="wechatpay", environment="production", method=method,
                                             amount=amount, day=business_day(NOW))
            return chosen.account.id


@pytest.fixture
def health() -> HealthRegistry:
    return HealthRegistry(FixedClock(NOW))


def test_weights_split_the_traffic_and_backups_wait(db: Database, health: HealthRegistry) -> None:
    shop = Shop(db)
    heavy, light = shop.account(weight=3), shop.account(weight=1)
    backup = shop.account(role="backup", weight=5)
    service._pick.seed(11)
    counts = Counter(shop.choose(health) for _ in range(2_000))
    assert set(counts) == {heavy, light} and backup not in counts
    assert abs(counts[heavy] / 2_000 - 0.75) < 0.04  # 3 : 1 within four points on 2,000 draws


def test_a_capped_primary_is_skipped_and_the_backup_takes_over(db: Database, health: HealthRegistry) -> None:
    shop = Shop(db)
    primary, backup = shop.account(daily_cap=10_000), shop.account(role="backup")
    shop.paid(primary, 9_500)
    shop.paid(primary, 50_000, status="closed")  # closed payments take nothing from the cap
    shop.paid(primary, 50_000, at=TODAY - timedelta(seconds=1))  # yesterday's neither
    assert shop.choose(health, amount=500) == primary  # exactly at the cap passes
    assert shop.choose(health, amount=501) == backup


def test_every_account_at_its_cap_is_limit_exceeded_with_the_most_room(db: Database, health: HealthRegistry) -> None:
    shop = Shop(db)
    small, large = shop.account(daily_cap=1_000), shop.account(daily_cap=5_000)
    shop.paid(small, 900)
    shop.paid(large, 4_000)
    with pytest.raises(Unprocessable) as refused:
        shop.choose(health, amount=1_001)
    assert refused.value.code == "limit_exceeded"
    assert refused.value.details == {"limit": "account_daily", "value": 5_000, "used": 4_000, "remaining": 1_000,
                                     "amount": 1_001}


def test_an_open_breaker_is_skipped_and_the_primary_resumes_after_recovery(db: Database) -> None:
    clock = FixedClock(NOW)
    health = HealthRegistry(clock)
    shop = Shop(db)
    primary, backup = shop.account(), shop.account(role="backup")
    for _ in range(health.config.consecutive_failures):
        health.record(primary, "unknown")
    assert {shop.choose(health) for _ in range(20)} == {backup}
    clock.advance(health.config.cool_down)
    assert shop.choose(health) == primary  # half open: this payment is the probe
    assert shop.choose(health) == backup  # the one probe slot is taken until its outcome is known
    health.record(primary, "ok")
    assert {shop.choose(health) for _ in range(20)} == {primary}


def test_all_breakers_open_is_channel_unavailable(db: Database, health: HealthRegistry) -> None:
    shop = Shop(db)
    only = shop.account()
    for _ in range(health.config.consecutive_failures):
        health.record(only, "retryable")
    with pytest.raises(ChannelUnavailable) as refused:
        shop.choose(health)
    assert refused.value.code == "channel_unavailable"


def test_suspended_drained_and_foreign_accounts_take_nothing(db: Database, health: HealthRegistry) -> None:
    shop, other = Shop(db), Shop(db)
    suspended = shop.account(status="suspended")
    other.account()
    with pytest.raises(Unprocessable) as paused:
        shop.choose(health)
    assert paused.value.code == "account_suspended"
    drained = shop.account(weight=0)
    with pytest.raises(Unprocessable) as none:
        shop.choose(health)
    assert none.value.code == "no_channel_account" and none.value.details["reason"] == "zero_weight"
    shop.account(channel="alipay")
    with pytest.raises(Unprocessable) as still_none:  # an Alipay account serves no WeChat method
        shop.choose(health, method="wechat_jsapi")
    assert still_none.value.code == "no_channel_account"
    assert suspended != drained


def test_platform_accounts_are_shared_and_their_cap_spans_merchants(db: Database, health: HealthRegistry) -> None:
    one, two = Shop(db), Shop(db)
    shared = one.account(owner=None, daily_cap=3_000)
    one.paid(shared, 2_000)
    two.paid(shared, 500)
    assert two.choose(health, amount=500, platform=True) == shared
    with pytest.raises(Unprocessable) as refused:
        two.choose(health, amount=501, platform=True)
    assert refused.value.code == "limit_exceeded"
    # the shared cap's usage is every merchant's volume: the refusal gives no figure of it
    assert refused.value.details == {"limit": "account_daily", "amount": 501}
    assert not any(figure in str(refused.value) for figure in ("2500", "3000", "500 fen remain"))


def test_the_pick_is_random_per_payment_not_fixed(db: Database, health: HealthRegistry) -> None:
    shop = Shop(db)
    accounts = {shop.account(weight=1) for _ in range(3)}
    service._pick.seed(random.randrange(1 << 30))
    assert {shop.choose(health) for _ in range(200)} == accounts
