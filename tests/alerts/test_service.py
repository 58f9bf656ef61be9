"""Raising alerts on a real database: one incident is one alert and one dispatch job."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from indiepay.alerts import repository, rules, service
from indiepay.alerts.models import Alert
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from tests.support.concurrency import race

NOW = datetime(2030, 3, 1, 2, 0, tzinfo=UTC)


def _alerts(db: Database) -> list[Alert]:
    with db.read() as session:
        return list(session.scalars(select(Alert).order_by(Alert.created_at, Alert.dedupe_key)))


def _dispatch_jobs(db: Database) -> list[dict[str, object]]:
    with db.read() as session:
        return [dict(job.args) for job in session.scalars(select(Job).where(Job.kind == service.DISPATCH_JOB))]


def test_the_same_incident_raised_twice_is_one_alert_and_one_dispatch(db: Database) -> None:
    clock = FixedClock(NOW)
    ids = []
    for _ in range(3):
        with db.transaction() as session:
            alert = service.raise_alert(session, clock, kind="late_payment", severity="high", message="late",
                                        dedupe_key="late_payment:pay_1", merchant_id="mch_1",
                                        details={"payment_id": "pay_1"})
            ids.append(alert.id)
    assert len(set(ids)) == 1
    alerts = _alerts(db)
    assert [(a.kind, a.merchant_id, a.delivery_state, a.details) for a in alerts] == [
        ("late_payment", "mch_1", "pending", {"payment_id": "pay_1"})]
    assert _dispatch_jobs(db) == [{"alert_id": ids[0]}]


def test_a_rolled_back_alert_queues_nothing(db: Database) -> None:
    clock = FixedClock(NOW)
    try:
        with db.transaction() as session:
            service.raise_alert(session, clock, kind="late_payment", severity="high", message="late",
                                dedupe_key="late_payment:pay_2")
            raise RuntimeError("the state change failed")
    except RuntimeError:
        pass
    assert _alerts(db) == []
    assert _dispatch_jobs(db) == []


def test_daily_cap_warnings_once_per_scope_day_and_level(db: Database) -> None:
    clock = FixedClock(NOW)
    day = date(2030, 3, 1)

    def use(before: int, after: int, scope_id: str = "acct_1", on: date = day) -> list[str]:
        with db.transaction() as session:
            return [a.id for a in service.warn_daily_cap(session, clock, merchant_id="mch_1", scope="channel_account",
                                                         scope_id=scope_id, cap=10_000, used_before=before,
                                                         used_after=after, business_day=on)]

    assert use(0, 5_000) == []
    first = use(5_000, 8_500)
    assert len(first) == 1
    assert use(5_000, 8_600) == first  # a concurrent payment that also crossed 80 %: the same alert
    assert len(use(8_600, 10_000)) == 1
    assert len(use(7_000, 10_500, scope_id="acct_2")) == 2  # another account: both levels at once
    assert len(use(0, 9_000, on=date(2030, 3, 2))) == 1  # the next business day starts again

    alerts = _alerts(db)
    assert sorted(a.dedupe_key for a in alerts) == [
        "daily_cap_warning:channel_account:acct_1:2030-03-01:100",
        "daily_cap_warning:channel_account:acct_1:2030-03-01:80",
        "daily_cap_warning:channel_account:acct_1:2030-03-02:80",
        "daily_cap_warning:channel_account:acct_2:2030-03-01:100",
        "daily_cap_warning:channel_account:acct_2:2030-03-01:80",
    ]
    hundred = next(a for a in alerts if a.dedupe_key.endswith("acct_1:2030-03-01:100"))
    assert (hundred.kind, hundred.severity) == ("daily_cap_warning", "high")
    assert hundred.details == {"scope": "channel_account", "scope_id": "acct_1", "level": 100, "cap": 10_000,
                               "used": 10_000, "remaining": 0, "business_day": "2030-03-01"}
    assert len(_dispatch_jobs(db)) == 5


@pytest.mark.postgres
def test_racing_raisers_store_one_alert_and_racing_dispatchers_share_the_rate_limit(pg: Database) -> None:
    clock = FixedClock(NOW)

    def raise_same(_: int) -> None:
        with pg.transaction() as session:
            service.raise_alert(session, clock, kind="channel_mismatch", severity="critical", message="mismatch",
                                dedupe_key="channel_mismatch:pay_7", merchant_id="mch_1")

    assert race(16, raise_same) == []
    assert len(_alerts(pg)) == 1
    assert len(_dispatch_jobs(pg)) == 1

    start = rules.window_start(NOW, 3600)
    key = rules.rate_key("mch_1", "late_payment", start)
    taken: list[bool] = []

    def take(_: int) -> None:
        with pg.transaction() as session:
            taken.append(repository.take_rate_slot(session, key, start, limit=5))

    assert race(20, take) == []
    assert sorted(taken) == [False] * 15 + [True] * 5  # two processes can never both take the last slot


def test_a_repeat_of_a_committed_incident_is_not_even_tried_and_a_rolled_back_one_is_not_remembered(
        db: Database) -> None:
    clock = FixedClock(NOW)

    def record() -> bool:
        with db.transaction() as session:
            return service.record_alert(session, clock, kind="risk_review", severity="warning", message="review",
                                        dedupe_key="risk_review:mch_1:live:payment:r:2030-03-01T02",
                                        merchant_id="mch_1", livemode=True)

    try:
        with db.transaction() as session:
            assert service.record_alert(session, clock, kind="risk_review", severity="warning", message="review",
                                        dedupe_key="risk_review:mch_1:live:payment:r:2030-03-01T02")
            raise RuntimeError("the payment failed")
    except RuntimeError:
        pass
    assert record() is True  # the rolled-back insert taught nothing: the incident is stored now
    assert record() is False
    assert len(_alerts(db)) == 1 and len(_dispatch_jobs(db)) == 1
    with db.transaction() as session:  # behind the cache's back (alerts are never deleted in the product)
        session.execute(Alert.__table__.delete())
    assert record() is False  # known committed: skipped without a statement
    assert _alerts(db) == []


def test_a_deferred_alert_queues_one_job_per_incident_only_once_committed(db: Database) -> None:
    clock = FixedClock(NOW)
    key = "risk_review:mch_2:live:payment:r:2030-03-01T02"

    def defer(args: dict[str, object]) -> bool:
        with db.transaction() as session:
            return service.defer_alert(session, dedupe_key=key, job="test.raise", args=args, now=NOW)

    def queued() -> list[dict[str, object]]:
        with db.read() as session:
            return [dict(job.args) for job in session.scalars(select(Job).where(Job.kind == "test.raise"))]

    try:
        with db.transaction() as session:
            assert service.defer_alert(session, dedupe_key=key, job="test.raise", args={"n": 0}, now=NOW)
            raise RuntimeError("the payment failed")
    except RuntimeError:
        pass
    assert queued() == []  # the job rolled back with the payment, and the process learned nothing
    assert defer({"n": 1}) is True
    assert defer({"n": 2}) is False  # queued by a committed transaction: not queued twice
    assert queued() == [{"n": 1}]
    with db.transaction() as session:  # the job raises it; a later incident of the same key is skipped too
        assert service.record_alert(session, clock, kind="risk_review", severity="warning", message="review",
                                    dedupe_key=key, merchant_id="mch_2", livemode=True)
    assert defer({"n": 3}) is False and len(queued()) == 1
    stored = "risk_review:mch_3:live:payment:r:2030-03-01T02"
    with db.transaction() as session:
        service.record_alert(session, clock, kind="risk_review", severity="warning", message="review",
                             dedupe_key=stored, merchant_id="mch_3", livemode=True)
    with db.transaction() as session:  # an incident this process stored: no job at all
        assert service.defer_alert(session, dedupe_key=stored, job="test.raise", args={}, now=NOW) is False
