"""The running sums behind the daily limits (``payment_day_usage``) stay exactly what summing the payments
would give — through inserts, every status change in and out of the counted set, the business day's edges
and any writer (the triggers of migration 0019), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import Column, MetaData, Table, func, insert, select, update

from indiepay.accounts.models import ChannelAccount
from indiepay.core.clock import business_day
from indiepay.db.engine import Database
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.risk.models import PaymentDayUsage
from indiepay.risk.repository import COUNTED

MIDNIGHT_BEIJING = datetime(2026, 11, 19, 16, 0, tzinfo=UTC)  # 2026-11-20 00:00 in Asia/Shanghai
USAGE = PaymentDayUsage.__table__


def _merchant(db: Database) -> None:
    with db.transaction() as session:
        created = MIDNIGHT_BEIJING - timedelta(days=90)
        session.add(Merchant(id="mch_u", name="U", short_name="U", subject_type="individual", status="active",
                             collection_mode="independent", created_at=created))
        session.flush()
        for account_id in ("acc_a", "acc_b"):
            session.add(ChannelAccount(id=account_id, merchant_id="mch_u", owner="merchant", channel="wechatpay",
                                       environment="production", role="primary", weight=1, status="active",
                                       base_url="http://gateway", credentials={}, created_at=created,
                                       updated_at=created))


def _pay(db: Database, pid: str, amount: int, status: str, at: datetime, account: str = "acc_a",
         livemode: bool = True) -> None:
    values = dict(id=pid, merchant_id="mch_u", livemode=livemode, channel_account_id=account, channel="wechatpay",
                  method="wechat_native", amount=amount, currency="CNY", out_trade_no=pid, description="x",
                  status=status, collection_mode="independent", channel_fee_bps=60, platform_fee_bps=0,
                  refunded_amount=0, refund_reserved=0, payer={}, late_payment=False, query_attempts=0,
                  expires_at=at + timedelta(minutes=30), created_at=at, updated_at=at)
    # only these columns, as a writer of an older revision would (the migration test starts at 0018): the
    # model's defaults of later columns are not part of the insert
    columns = [column for name, column in Payment.__table__.columns.items() if name in values]
    with db.transaction() as session:
        table = Table("payments", MetaData(), *[Column(column.name, column.type) for column in columns])
        session.execute(insert(table).values(**values))


def _set_status(db: Database, pid: str, status: str) -> None:
    with db.transaction() as session:
        session.execute(update(Payment).where(Payment.id == pid).values(status=status))


def _usage(db: Database) -> dict[tuple[str, bool, str], int]:
    with db.read() as session:
        rows = session.execute(select(USAGE.c.business_date, USAGE.c.livemode, USAGE.c.channel_account_id,
                                      USAGE.c.amount)).all()
    return {(day, bool(live), account): int(amount) for day, live, account, amount in rows if amount}


def _summed(db: Database) -> dict[tuple[str, bool, str], int]:
    """What the sums must equal: the payments in a counted status, by creation day, mode and account."""
    with db.read() as session:
        rows = session.execute(select(Payment.created_at, Payment.livemode, Payment.channel_account_id,
                                      Payment.amount).where(Payment.status.in_(COUNTED))).all()
    expected: dict[tuple[str, bool, str], int] = {}
    for created, live, account, amount in rows:
        key = (business_day(created).isoformat(), bool(live), account)
        expected[key] = expected.get(key, 0) + int(amount)
    return {key: amount for key, amount in expected.items() if amount}


def test_every_change_keeps_the_sums_equal_to_the_payments(db: Database) -> None:
    _merchant(db)
    before, after = MIDNIGHT_BEIJING - timedelta(milliseconds=100), MIDNIGHT_BEIJING + timedelta(milliseconds=100)
    _pay(db, "p1", 1_000, "pending", before)  # 2026-11-19, the last tenth of a second of it
    _pay(db, "p2", 2_000, "pending", after)  # 2026-11-20
    _pay(db, "p3", 4_000, "failed", after)  # never counted
    _pay(db, "p4", 8_000, "succeeded", after, account="acc_b")
    _pay(db, "p5", 16_000, "pending", after, livemode=False)  # test mode apart
    assert _usage(db) == _summed(db) == {("2026-11-19", True, "acc_a"): 1_000, ("2026-11-20", True, "acc_a"): 2_000,
                                         ("2026-11-20", True, "acc_b"): 8_000, ("2026-11-20", False, "acc_a"): 16_000}
    _set_status(db, "p2", "succeeded")  # counted to counted: no change
    _set_status(db, "p1", "closed")  # out of the set
    _set_status(db, "p3", "closed")  # outside to outside
    assert _usage(db) == _summed(db)
    assert ("2026-11-19", True, "acc_a") not in _usage(db)
    _set_status(db, "p1", "succeeded")  # a late payment: back in, on the day it was created
    _set_status(db, "p5", "closed")
    _set_status(db, "p4", "failed")
    assert _usage(db) == _summed(db) == {("2026-11-19", True, "acc_a"): 1_000, ("2026-11-20", True, "acc_a"): 2_000}


def test_admission_reads_todays_sums_per_account(db: Database) -> None:
    from indiepay.risk import features, rules

    _merchant(db)
    now = MIDNIGHT_BEIJING + timedelta(hours=10)
    _pay(db, "y1", 50_000, "succeeded", MIDNIGHT_BEIJING - timedelta(seconds=1))  # yesterday: not today's
    _pay(db, "t1", 1_000, "pending", MIDNIGHT_BEIJING)
    _pay(db, "t2", 3_000, "succeeded", now - timedelta(hours=5), account="acc_b")
    _pay(db, "t3", 7_000, "closed", now - timedelta(hours=1))
    with db.read() as session:
        recent = features.measure_recent(session, rules.RuleSet("v", ()), merchant_id="mch_u", livemode=True,
                                         payer={}, now=now)
    assert business_day(now) == date(2026, 11, 20)
    assert recent.used_today == 4_000
    assert dict(recent.used_today_by_account) == {"acc_a": 1_000, "acc_b": 3_000}


def test_many_payments_sum_exactly(db: Database) -> None:
    _merchant(db)
    start = MIDNIGHT_BEIJING + timedelta(hours=1)
    for n in range(60):
        _pay(db, f"m{n}", 100 + n, ("pending", "succeeded", "closed", "failed")[n % 4], start + timedelta(minutes=n))
    for n in range(0, 60, 3):
        _set_status(db, f"m{n}", "closed")
    assert _usage(db) == _summed(db)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(USAGE)) == 1


def test_the_migration_fills_the_sums_of_payments_already_there(tmp_path: Path) -> None:
    """A platform upgrading mid-day: today's payments, written before the triggers existed, are counted."""
    from alembic import command

    from indiepay.db.migrate import alembic_config

    url = f"sqlite:///{tmp_path / 'up.db'}"
    command.upgrade(alembic_config(url), "0018")
    db = Database(url)
    try:
        _merchant(db)
        now = datetime.now(UTC)
        _pay(db, "b1", 1_000, "pending", now - timedelta(minutes=5))
        _pay(db, "b2", 2_000, "succeeded", now - timedelta(minutes=4), account="acc_b")
        _pay(db, "b3", 4_000, "closed", now - timedelta(minutes=3))
        _pay(db, "b4", 8_000, "succeeded", now - timedelta(days=5))  # older days are never read: not filled
        command.upgrade(alembic_config(url), "head")
        today = business_day(now).isoformat()
        assert {key: amount for key, amount in _usage(db).items() if key[0] == today} == {
            k: v for k, v in _summed(db).items() if k[0] == today}
        _set_status(db, "b1", "closed")  # and the triggers keep them from then on
        assert (today, True, "acc_a") not in _usage(db)
    finally:
        db.dispose()
