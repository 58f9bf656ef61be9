"""The daily ``keys.check`` job against a real database, with injected clocks."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.models import Alert
from indiepay.core.clock import FixedClock, as_utc, business_day
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import RetryLater
from indiepay.keys import tasks
from indiepay.merchants.models import Merchant

EXPIRES = datetime(2030, 6, 30, 4, 0, tzinfo=UTC)  # 12:00 Beijing: after the 09:00 run
LONG_AGO = EXPIRES - timedelta(days=60)  # no rotation reminder falls inside the walk


def _merchant(db: Database) -> str:
    merchant_id = new_id("mch")
    with db.transaction() as session:
        session.add(Merchant(id=merchant_id, name="Tea Shop Ltd.", short_name="Tea Shop", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="platform", platform_fee_bps=30,
                             tech_fee_bps=30, kyc_status="approved", created_at=LONG_AGO))
    return merchant_id


def _account(db: Database, merchant_id: str | None, *, expires: datetime | None, created: datetime = LONG_AGO,
             status: str = "active") -> str:
    account_id = new_id("acct")
    with db.transaction() as session:
        session.add(ChannelAccount(id=account_id, merchant_id=merchant_id,
                                   owner="merchant" if merchant_id else "platform", channel="wechatpay",
                                   environment="production", role="primary", status=status,
                                   base_url="https://api.mch.weixin.qq.com", credentials={},
                                   credentials_expire_at=expires, created_at=created, updated_at=created))
    return account_id


def _alerts(db: Database) -> list[Alert]:
    with db.read() as session:
        return list(session.scalars(select(Alert).order_by(Alert.created_at, Alert.id)))


def _run(db: Database, now: datetime) -> RetryLater | None:
    return tasks.run_check_job(db, FixedClock(now), {"date": business_day(now).isoformat()})


def test_alerts_fire_at_30_7_and_1_days_once_each(db: Database) -> None:
    merchant_id = _merchant(db)
    account = _account(db, merchant_id, expires=EXPIRES)
    platform_account = _account(db, None, expires=EXPIRES + timedelta(days=100))
    _account(db, merchant_id, expires=None)  # nothing known: nothing to say
    _account(db, merchant_id, expires=EXPIRES, status="suspended")  # not walked

    seen: dict[int, list[str]] = {}
    for days in (31, 30, 29, 7, 6, 1, 0):
        before = {a.dedupe_key for a in _alerts(db)}
        assert _run(db, EXPIRES - timedelta(days=days)) is None
        assert _run(db, EXPIRES - timedelta(days=days)) is None  # the same day twice changes nothing
        seen[days] = sorted(a.dedupe_key for a in _alerts(db) if a.dedupe_key not in before)

    gen = f"{EXPIRES:%Y%m%d}"
    assert seen == {31: [], 30: [f"key_expiry:{account}:30@{gen}"], 29: [], 7: [f"key_expiry:{account}:7@{gen}"],
                    6: [], 1: [f"key_expiry:{account}:1@{gen}"], 0: []}
    alerts = _alerts(db)
    assert [(a.kind, a.severity, a.merchant_id) for a in alerts] == [
        ("key_expiry", "warning", merchant_id), ("key_expiry", "high", merchant_id),
        ("key_expiry", "critical", merchant_id)]
    assert alerts[0].details["account_id"] == account
    assert alerts[0].details["expires_at"] == EXPIRES.isoformat()
    assert platform_account not in " ".join(a.dedupe_key for a in alerts)


def test_a_missed_alert_fires_once_and_only_the_most_urgent(db: Database) -> None:
    account = _account(db, _merchant(db), expires=EXPIRES)
    _run(db, EXPIRES - timedelta(days=5))  # the worker was down from day 31 to day 5
    _run(db, EXPIRES - timedelta(days=4))
    assert [a.dedupe_key for a in _alerts(db)] == [f"key_expiry:{account}:7@{EXPIRES:%Y%m%d}"]


def test_rotation_reminders_and_platform_accounts(db: Database) -> None:
    issued = datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
    account = _account(db, None, expires=None, created=issued)
    for days in (89, 90, 91, 179, 180, 181):
        _run(db, issued + timedelta(days=days))
    alerts = _alerts(db)
    gen = f"{issued:%Y%m%dT%H%M%S}"
    assert [(a.dedupe_key, a.kind, a.severity, a.merchant_id) for a in alerts] == [
        (f"key_rotation:{account}:90@{gen}", "key_rotation", "warning", None),
        (f"key_rotation:{account}:180@{gen}", "key_rotation", "high", None)]


def test_reminders_start_over_for_rotated_credentials(db: Database) -> None:
    issued = datetime(2030, 1, 1, 4, 0, tzinfo=UTC)
    account = _account(db, _merchant(db), expires=issued + timedelta(days=200), created=issued)
    _run(db, issued + timedelta(days=95))
    assert [a.details["days"] for a in _alerts(db)] == [90]
    rotated = issued + timedelta(days=100)  # new keys and a new certificate, as accounts.rotation stores them
    with db.transaction() as session:
        row = session.get(ChannelAccount, account)
        assert row is not None
        row.updated_at, row.credentials_expire_at = rotated, rotated + timedelta(days=365)
    _run(db, issued + timedelta(days=170))  # the old certificate's 30-day alert would be due: not any more
    _run(db, issued + timedelta(days=185))  # the old keys' 180-day reminder would be due: not any more
    assert [a.details["days"] for a in _alerts(db)] == [90]
    _run(db, rotated + timedelta(days=90))
    assert [(a.kind, a.details["days"]) for a in _alerts(db)][1:] == [("key_rotation", 90)]
    _run(db, rotated + timedelta(days=365 - 30))  # the new keys are 335 days old, the new certificate near its end
    assert sorted((a.kind, a.details["days"]) for a in _alerts(db)[2:]) == [("key_expiry", 30), ("key_rotation", 180)]


def test_the_daily_chain_renews_itself_at_0900_beijing(db: Database) -> None:
    now = datetime(2030, 3, 1, 0, 30, tzinfo=UTC)  # 08:30 Beijing
    clock = FixedClock(now)
    assert tasks.CHAIN.seed(db, clock) == date(2030, 3, 1)
    assert tasks.CHAIN.seed(db, clock) is None  # one chain, however many workers start
    early = tasks.run_check_job(db, clock, {"date": "2030-03-01"})
    assert isinstance(early, RetryLater)
    assert early.at == datetime(2030, 3, 1, 1, 0, tzinfo=UTC)  # 09:00 Beijing
    clock.advance(timedelta(hours=1))
    assert tasks.run_check_job(db, clock, {"date": "2030-03-01"}) is None
    with db.read() as session:
        queued = session.scalars(select(Job).where(Job.kind == tasks.CHECK_JOB, Job.status == "queued")
                                 .order_by(Job.run_at)).all()
        assert [(j.args["date"], as_utc(j.run_at)) for j in queued] == [
            ("2030-03-01", datetime(2030, 3, 1, 1, 0, tzinfo=UTC)),
            ("2030-03-02", datetime(2030, 3, 2, 1, 0, tzinfo=UTC))]
