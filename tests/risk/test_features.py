"""Measuring payments and refunds for the risk rules, on SQLite and PostgreSQL: the windows, the payer
identifiers, test/live separation, the daily history (and its cache); risk decisions are never deleted."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import business_day_start
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.db.migrate import alembic_config
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.risk import features, history
from indiepay.risk.models import RiskDecision
from indiepay.risk.rules import RULESET_V1, Features
from indiepay.routing import repository as routing_repository

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)  # 14:00 in Beijing
TODAY_START = business_day_start(NOW.date())


class Shop:
    def __init__(self, db: Database, created_at: datetime, subject_type: str = "individual") -> None:
        self.db = db
        self.id = new_id("mch")
        self.account_id = new_id("acct")
        with db.transaction() as session:
            session.add(Merchant(id=self.id, name="Shop Ltd.", short_name="Shop", subject_type=subject_type,
                                 contact_email=None, status="active", collection_mode="independent",
                                 created_at=created_at))
            session.flush()
            session.add(ChannelAccount(id=self.account_id, merchant_id=self.id, owner="merchant", channel="wechatpay",
                                       environment="sandbox", role="primary", status="active",
                                       base_url="http://sandbox", credentials={}, created_at=created_at,
                                       updated_at=created_at))

    def pay(self, at: datetime, amount: int = 1_000, status: str = "succeeded", livemode: bool = False,
            **payer: str) -> str:
        payment_id = new_id("pay")
        with self.db.transaction() as session:
            session.add(Payment(id=payment_id, merchant_id=self.id, livemode=livemode,
                                channel_account_id=self.account_id, channel="wechatpay", method="wechat_native",
                                amount=amount, currency="CNY", out_trade_no=payment_id, description="tea",
                                status=status, payer=payer, action=None, expires_at=at + timedelta(hours=2),
                                created_at=at, updated_at=at))
        return payment_id

    def refund(self, payment_id: str, at: datetime, amount: int, status: str = "succeeded",
               livemode: bool = False) -> None:
        with self.db.transaction() as session:
            session.add(Refund(id=new_id("re"), merchant_id=self.id, livemode=livemode, payment_id=payment_id,
                               amount=amount, currency="CNY", status=status, out_refund_no=new_id("rf"),
                               created_at=at, updated_at=at, succeeded_at=at))

    def measure(self, now: datetime = NOW, **payer: str) -> Features:
        with self.db.read() as session:
            merchant = session.get(Merchant, self.id)
            assert merchant is not None
            recent = features.measure_recent(session, RULESET_V1, merchant_id=self.id, livemode=False, payer=payer,
                                             now=now)
            return features.for_payment(session, RULESET_V1, merchant=merchant, livemode=False, amount=500,
                                        recent=recent, daily_limit=5_000, now=now)

    def measure_refund(self, amount: int) -> Features:
        with self.db.read() as session:
            merchant = session.get(Merchant, self.id)
            assert merchant is not None
            return features.for_refund(session, RULESET_V1, merchant=merchant, livemode=False, amount=amount,
                                       now=NOW)


def minutes_ago(n: float) -> datetime:
    return NOW - timedelta(minutes=n)


def test_payer_and_merchant_windows(db: Database) -> None:
    shop, other = Shop(db, NOW - timedelta(days=400)), Shop(db, NOW - timedelta(days=400))
    for n in (1.5, 3, 9.9):
        shop.pay(minutes_ago(n), openid="o_A", client_ip="1.1.1.1")
    shop.pay(minutes_ago(10.5), openid="o_A")  # outside the 10-minute window, inside the hour
    shop.pay(minutes_ago(0.5), openid="o_B", client_ip="1.1.1.1")
    shop.pay(minutes_ago(2), openid="o_A", livemode=True)  # live data is not test data
    other.pay(minutes_ago(2), openid="o_A")  # another merchant's payer
    for n, status in ((5, "failed"), (30, "closed"), (59, "failed"), (61, "failed"), (7, "pending")):
        shop.pay(minutes_ago(n), status=status, openid="o_A")
    measured = shop.measure(openid="o_A", client_ip="1.1.1.1")
    assert measured.payer_payments == {("openid", 10): 5, ("client_ip", 10): 4}  # 3 + failed(5) + pending(7)
    assert measured.payer_failures == {("openid", 60): 3, ("client_ip", 60): 0}
    assert measured.merchant_payments == {1: 1}
    # today's counted volume, in the same statement: the shop's test-mode payments that are succeeded or
    # pending (1.5, 3, 9.9, 10.5, 0.5 and the pending 7-minute one), not the failed/closed, live or other's
    assert (measured.used_today, measured.daily_limit, measured.amount, measured.subject_type) == (
        6_000, 5_000, 500, "individual")
    assert measured.account_age_days == 400
    only_ip = shop.measure(client_ip="1.1.1.1")
    assert only_ip.payer_payments == {("client_ip", 10): 4} and only_ip.payer_failures == {("client_ip", 60): 0}
    anonymous = shop.measure()
    assert anonymous.payer_payments == {} and anonymous.payer_failures == {}


def test_the_same_statement_splits_todays_volume_by_account_for_routing(db: Database) -> None:
    shop = Shop(db, NOW - timedelta(days=400))
    first, second = shop.account_id, new_id("acct")
    with db.transaction() as session:
        session.add(ChannelAccount(id=second, merchant_id=shop.id, owner="merchant", channel="wechatpay",
                                   environment="sandbox", role="backup", status="active", base_url="http://sandbox",
                                   credentials={}, created_at=NOW, updated_at=NOW))
    now = TODAY_START + timedelta(minutes=30)  # the hour-long rule windows reach back into yesterday
    shop.pay(TODAY_START - timedelta(minutes=10), amount=8_000)  # scanned for the windows, not today's volume
    shop.pay(TODAY_START + timedelta(minutes=5), amount=1_000)
    shop.pay(TODAY_START + timedelta(minutes=6), amount=2_000, status="pending")
    shop.pay(TODAY_START + timedelta(minutes=7), amount=4_000, status="failed")  # not counted
    shop.account_id = second
    shop.pay(TODAY_START + timedelta(minutes=8), amount=16_000)
    shop.pay(now - timedelta(seconds=20), amount=64_000)  # inside the merchant's one-minute window too
    shop.pay(TODAY_START + timedelta(minutes=9), amount=32_000, livemode=True)  # live: the other mode's figures
    with db.read() as session:
        recent = features.measure_recent(session, RULESET_V1, merchant_id=shop.id, livemode=False, payer={},
                                         now=now)
    assert dict(recent.used_today_by_account) == {first: 3_000, second: 80_000}
    assert recent.used_today == 83_000
    assert recent.merchant_payments == {1: 1}  # the windows are summed over the accounts' rows


def test_history_is_the_days_before_today_and_is_computed_once_a_day(db: Database) -> None:
    shop = Shop(db, TODAY_START - timedelta(days=12) + timedelta(hours=1))  # 12 business days before today
    shop.pay(TODAY_START - timedelta(days=11), amount=10_000)
    shop.pay(TODAY_START - timedelta(minutes=1), amount=5_000)
    shop.pay(TODAY_START - timedelta(days=2), amount=7_000, status="closed")  # counted in number, not volume
    shop.pay(TODAY_START - timedelta(days=13), amount=99_000)  # before the 12 days
    shop.pay(TODAY_START + timedelta(minutes=1), amount=99_000)  # today
    shop.pay(TODAY_START - timedelta(days=1), amount=99_000, livemode=True)
    measured = shop.measure()
    assert (measured.history_days, measured.history_volume, measured.history_count) == (12, 15_000, 3)
    shop.pay(TODAY_START - timedelta(days=3), amount=1)  # written later the same day: the cached figure stands
    assert shop.measure().history_volume == 15_000
    tomorrow = shop.measure(now=NOW + timedelta(days=1))
    assert (tomorrow.history_days, tomorrow.history_volume, tomorrow.history_count) == (13, 99_000 + 15_001, 5)


def test_history_spans_at_most_thirty_days(db: Database) -> None:
    shop = Shop(db, NOW - timedelta(days=400))
    shop.pay(TODAY_START - timedelta(days=30), amount=3_000)
    shop.pay(TODAY_START - timedelta(days=30, minutes=1), amount=99_000)
    measured = shop.measure()
    assert (measured.history_days, measured.history_volume, measured.history_count) == (30, 3_000, 1)
    assert Shop(db, NOW - timedelta(hours=1)).measure().history_days == 0


def test_refund_window(db: Database) -> None:
    shop = Shop(db, NOW - timedelta(days=400))
    recent = shop.pay(NOW - timedelta(days=6), amount=10_000)
    shop.pay(NOW - timedelta(days=1), amount=5_000)
    shop.pay(NOW - timedelta(days=1), amount=50_000, status="failed")
    old = shop.pay(NOW - timedelta(days=8), amount=40_000)
    shop.refund(recent, NOW - timedelta(days=1), 1_000)
    shop.refund(old, NOW - timedelta(days=2), 2_000, status="processing")
    shop.refund(old, NOW - timedelta(days=2), 4_000, status="failed")
    shop.refund(old, NOW - timedelta(days=7, minutes=1), 8_000)
    live = shop.pay(NOW - timedelta(days=1), amount=10_000, livemode=True)
    shop.refund(live, NOW - timedelta(days=1), 500, livemode=True)
    measured = shop.measure_refund(700)
    assert measured.object_type == "refund" and measured.amount == 700
    assert (measured.window_refunds, measured.window_refunded, measured.window_paid) == (2, 3_000, 15_000)


def test_risk_decisions_are_never_deleted(db: Database) -> None:
    with db.transaction() as session:
        session.add(RiskDecision(id="rdec_1", object_type="payment", object_id=None, reference="T1", merchant_id="m",
                                 livemode=False, amount=1, payer={}, ruleset_version="v1", outcome="block",
                                 shadow_outcome="block", rule_id="r", rule_version=1, hits=[], created_at=NOW))
    with pytest.raises(IntegrityError) as caught, db.engine.begin() as conn:
        conn.execute(text("DELETE FROM risk_decisions"))
    assert "never deleted" in str(caught.value.orig)
    with db.engine.connect() as conn:
        row: Any = conn.execute(text("SELECT count(*) FROM risk_decisions")).scalar_one()
    assert row == 1


def test_migration_0007_goes_down_with_payments_present_and_up_again(db: Database) -> None:
    Shop(db, NOW).pay(NOW)
    config = alembic_config(db.url)
    command.downgrade(config, "0006")
    assert "risk_decisions" not in inspect(db.engine).get_table_names()
    assert "daily_cap" not in {c["name"] for c in inspect(db.engine).get_columns("channel_accounts")}
    command.upgrade(config, "head")
    test_risk_decisions_are_never_deleted(db)


def test_an_alipay_buyer_id_is_counted_like_an_openid(db: Database) -> None:
    shop = Shop(db, NOW - timedelta(days=400))
    for n in (1, 4, 8):
        shop.pay(minutes_ago(n), buyer_id="2088102146225135")
    shop.pay(minutes_ago(20), status="failed", buyer_id="2088102146225135")
    shop.pay(minutes_ago(2), buyer_id="2088000000000001")
    measured = shop.measure(buyer_id="2088102146225135")
    assert measured.payer_payments == {("buyer_id", 10): 3}
    assert measured.payer_failures == {("buyer_id", 60): 1}


def test_on_sqlite_the_measure_and_the_history_read_the_merchants_index_only(db: Database) -> None:
    shop = Shop(db, NOW - timedelta(days=400))
    shop.pay(minutes_ago(3), openid="o_A", client_ip="1.1.1.1")
    with db.read() as session:
        recent = features.measure_recent(session, RULESET_V1, merchant_id=shop.id, livemode=False,
                                         payer={"openid": "o_A", "client_ip": "1.1.1.1"}, now=NOW)
        assert recent.used_today_by_account == {shop.account_id: 1_000}  # pay() defaults to 1,000 fen
        if db.engine.dialect.name != "sqlite":
            return  # PostgreSQL keeps the four-column index (migration 0017)
        connection = session.connection()
        plan = features._plan(RULESET_V1.needs("payment"), ("openid", "client_ip"), None)
        carried = features._plan(RULESET_V1.needs("payment"), ("openid", "client_ip"), _accounts_carry(shop.id))
        for statement in (plan.statement, carried.statement, history._SCANNED):
            compiled = statement._for(connection.dialect)
            steps = [row[3] for row in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {compiled.sql}", tuple(None for _ in compiled.names))]
            assert any("COVERING INDEX ix_payments_merchant_created" in step for step in steps), steps
            assert not any(step.startswith("SCAN") for step in steps), steps  # every table read by an index


def _accounts_carry(merchant_id: str, channel: str = "wechatpay") -> features.Carried:
    return features.Carried("merchant_accounts", routing_repository.MERCHANT_ACCOUNTS_JSON,
                            routing_repository.merchant_accounts_params(merchant_id, channel, "sandbox"))


def test_the_measure_carries_routings_accounts_in_its_one_statement(db: Database) -> None:
    """Admission has the merchant's accounts ride in the measure's statement: the same rows routing would read
    on its own, none for a channel the merchant has no account on, and the measure's figures unchanged."""
    shop = Shop(db, NOW - timedelta(days=400))
    with db.transaction() as session:
        session.add(ChannelAccount(id=new_id("acct"), merchant_id=shop.id, owner="merchant", channel="wechatpay",
                                   environment="sandbox", role="backup", weight=3, daily_cap=90_000,
                                   status="suspended", base_url="http://sandbox", credentials={}, created_at=NOW,
                                   updated_at=NOW))
    shop.pay(minutes_ago(3), openid="o_A")
    payer = {"openid": "o_A"}
    with db.read() as session:
        alone = features.measure_recent(session, RULESET_V1, merchant_id=shop.id, livemode=False, payer=payer,
                                        now=NOW)
        carrying = features.measure_recent(session, RULESET_V1, merchant_id=shop.id, livemode=False, payer=payer,
                                           now=NOW, carry=_accounts_carry(shop.id))
        none = features.measure_recent(session, RULESET_V1, merchant_id=shop.id, livemode=False, payer=payer,
                                       now=NOW, carry=_accounts_carry(shop.id, "alipay"))
        read = routing_repository.accounts_of(session, shop.id, "wechatpay", "sandbox")
    assert sorted(routing_repository.accounts_from_json(carrying.carried)) == sorted(read) and len(read) == 2
    assert routing_repository.accounts_from_json(none.carried) == []
    assert alone.carried is None
    assert (carrying.used_today, carrying.payer_payments, carrying.used_today_by_account) == (
        alone.used_today, alone.payer_payments, alone.used_today_by_account) == (
        1_000, {("openid", 10): 1}, {shop.account_id: 1_000})


def test_migration_0017_goes_down_and_up_with_payments_present(db: Database) -> None:
    Shop(db, NOW).pay(NOW)
    config = alembic_config(db.url)
    command.downgrade(config, "0016")
    columns = {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("payments")}
    assert columns["ix_payments_merchant_created"] == ["merchant_id", "livemode", "created_at", "id"]
    command.upgrade(config, "head")
    columns = {i["name"]: i["column_names"] for i in inspect(db.engine).get_indexes("payments")}
    carried = ["status", "amount", "channel_account_id", "payer"] if db.engine.dialect.name == "sqlite" else []
    assert columns["ix_payments_merchant_created"] == ["merchant_id", "livemode", "created_at", "id", *carried]
