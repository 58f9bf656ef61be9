"""The daily prune against a real database (both kinds): each kind of operational row goes once past its
period and not before, in batches, oldest first; what is still in use (a queued or running job, a key within
its day, an event whose log is still growing) and every financial record stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.housekeeping import rules, service, tasks
from indiepay.idempotency.models import IdempotencyRecord
from indiepay.merchants.models import Merchant
from indiepay.webhooks.models import Event, WebhookDelivery

NOW = datetime(2026, 11, 28, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def _job(session: object, job_id: str, status: str, age: timedelta, *, finished: bool = True) -> None:
    at = NOW - age
    session.add(Job(id=job_id, kind="payment.query", args={"payment_id": "pay_x"}, unique_key=None,  # type: ignore[attr-defined]
                    status=status, run_at=at - timedelta(minutes=1), attempts=1, max_attempts=12,
                    created_at=at - timedelta(minutes=2), finished_at=at if finished else None,
                    last_error="boom" if status == "dead" else None))


def _seed(db: Database) -> None:
    with db.transaction() as session:
        session.add(Merchant(id="mch_hk", name="Tea Ltd.", short_name="Tea", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="independent", created_at=NOW))
        session.flush()
        for n, age in enumerate((3 * DAY, 2 * DAY + timedelta(minutes=1), 2 * DAY - timedelta(minutes=1), DAY)):
            session.add(IdempotencyRecord(id=f"idem_{n}", scope="mch_hk:test:payments", key=f"k{n}",
                                          request_hash="h", status="done", response_status=201,
                                          response_body={"id": f"pay_{n}"}, created_at=NOW - age))
        _job(session, "job_done_old", "done", 31 * DAY)
        _job(session, "job_done_young", "done", 29 * DAY)
        _job(session, "job_dead_old", "dead", 91 * DAY)
        _job(session, "job_dead_young", "dead", 40 * DAY)  # dead: kept longer than done
        _job(session, "job_queued_old", "queued", 200 * DAY, finished=False)  # still to run: never pruned
        _job(session, "job_running_old", "running", 200 * DAY, finished=False)
        for event_id, ages in (("evt_old", (60 * DAY, 45 * DAY)),  # every attempt old: the log goes
                               ("evt_mixed", (45 * DAY, 10 * DAY)),  # one attempt recent: all of it stays
                               ("evt_new", (DAY,))):
            session.add(Event(id=event_id, merchant_id="mch_hk", livemode=False, type="payment.succeeded",
                              dedupe_key=event_id, data={}, delivered=True, created_at=NOW - max(ages)))
            session.flush()
            for attempt, age in enumerate(ages, start=1):
                session.add(WebhookDelivery(id=f"whd_{event_id}_{attempt}", event_id=event_id, url="https://x",
                                            attempt=attempt, status_code=500, error="endpoint answered 500",
                                            duration_ms=3, created_at=NOW - age))


def _ids(db: Database, column: object) -> set[str]:
    with db.read() as session:
        return set(session.scalars(select(column)))  # type: ignore[call-overload]


def test_each_kind_goes_once_past_its_period_and_what_is_in_use_stays(db: Database) -> None:
    _seed(db)
    pruned = service.prune(db, FixedClock(NOW))
    assert pruned.deleted == {rules.IDEMPOTENCY: 2, rules.DONE_JOBS: 1, rules.DEAD_JOBS: 1,
                              rules.WEBHOOK_DELIVERIES: 2}
    assert _ids(db, IdempotencyRecord.id) == {"idem_2", "idem_3"}
    assert _ids(db, Job.id) == {"job_done_young", "job_dead_young", "job_queued_old", "job_running_old"}
    assert _ids(db, WebhookDelivery.id) == {"whd_evt_mixed_1", "whd_evt_mixed_2", "whd_evt_new_1"}
    assert _ids(db, Event.id) == {"evt_old", "evt_mixed", "evt_new"}  # events are records: never pruned
    assert service.prune(db, FixedClock(NOW)).total == 0  # nothing left past its period


def test_a_backlog_goes_in_batches_oldest_first(db: Database) -> None:
    with db.transaction() as session:
        for n in range(25):
            _job(session, f"job_{n:02d}", "done", (40 + n) * DAY)
    pruned = service.prune(db, FixedClock(NOW), batch=10)
    assert pruned.deleted[rules.DONE_JOBS] == 25
    # 10 + 10 + 5 for the done jobs, one empty look for each other kind
    assert pruned.transactions == 3 + len(rules.KINDS) - 1
    with db.transaction() as session:
        for n in range(3):
            _job(session, f"job_again_{n}", "done", (40 + n) * DAY)
    with db.transaction() as session:
        from indiepay.housekeeping import repository

        assert repository.prune_batch(session, rules.DONE_JOBS, NOW - 30 * DAY, 2) == 2
    assert _ids(db, Job.id) == {"job_again_0"}  # the two oldest went first


def test_the_periods_keep_every_idempotency_record_for_its_replay_day() -> None:
    from indiepay.idempotency.service import KEEP_FOR

    assert rules.DEFAULT_KEEP.idempotency > KEEP_FOR
    assert rules.DEFAULT_KEEP.dead_jobs > rules.DEFAULT_KEEP.done_jobs


def test_the_daily_job_chains_and_prunes(db: Database) -> None:
    _seed(db)
    day = NOW.date()
    early = FixedClock(tasks.run_at(day) - timedelta(minutes=1))
    assert tasks.run_prune_job(db, early, {"date": day.isoformat()}) is not None  # not due yet
    assert tasks.run_at(day) < NOW  # 04:30 in Beijing is 20:30 UTC the evening before
    assert tasks.run_prune_job(db, FixedClock(NOW), {"date": day.isoformat()}) is None
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(IdempotencyRecord)) == 2
        queued = session.scalars(select(Job).where(Job.kind == tasks.PRUNE_JOB)).one()
    assert queued.status == "queued" and queued.args == {"date": (day + DAY).isoformat()}


def test_each_batch_deletes_by_primary_key(tmp_path: object) -> None:
    """Next to ``id IN (…)`` SQLite would take the claim index's range for the jobs' condition (every
    finished job of the period read again for each batch): the re-check is written so that it does not."""
    from pathlib import Path

    from sqlalchemy import text

    from indiepay.db.migrate import upgrade
    from indiepay.housekeeping import repository

    assert isinstance(tmp_path, Path)
    url = f"sqlite:///{tmp_path / 'plan.db'}"
    upgrade(url)
    db = Database(url)
    try:
        with db.read() as session:
            dialect = session.get_bind().dialect
            for kind, cutoff in rules.DEFAULT_KEEP.cutoffs(NOW).items():
                statement = repository.delete_by_ids(kind, ["a", "b"], cutoff)
                sql = str(statement.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))
                [first, *_] = [row[3] for row in session.execute(text("EXPLAIN QUERY PLAN " + sql))]
                assert first.startswith("SEARCH") and "(id=?)" in first, (kind, first)
    finally:
        db.dispose()
