"""Prepared statements: compiled once, run on the driver — same rows, same stored values, same transaction
as SQLAlchemy's own execution, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import bindparam, func, insert, select, text

from indiepay.db.base import UTCDateTime
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.queue import JOBS
from indiepay.db.prepared import Prepared
from indiepay.db.upsert import insert_once

T0 = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)
COLUMNS = ("id", "kind", "args", "unique_key", "status", "run_at", "attempts", "max_attempts", "created_at")


def _job(n: int, at: datetime) -> dict[str, object]:
    return {"id": f"job_{n}", "kind": "k", "args": {"n": n, "who": "商户"}, "unique_key": None, "status": "queued",
            "run_at": at, "attempts": 0, "max_attempts": 3, "created_at": at}


def test_an_insert_stores_what_sqlalchemy_would_and_a_select_reads_it_back(db: Database) -> None:
    prepared_insert = Prepared(insert(JOBS), COLUMNS)
    with db.transaction() as session:
        assert prepared_insert.execute(session, _job(1, T0)) == 1
        session.execute(insert(JOBS), _job(2, T0))  # the same row through SQLAlchemy
    with db.read() as session:
        stored = {job.id: job for job in session.query(Job)}
        raw = session.execute(text("SELECT args, run_at, created_at FROM jobs ORDER BY id")).all()
    assert (stored["job_1"].args, stored["job_2"].args) == ({"n": 1, "who": "商户"}, {"n": 2, "who": "商户"})
    assert stored["job_1"].run_at == stored["job_2"].run_at == T0  # aware UTC in, the same instant out
    assert raw[0][1:] == raw[1][1:]  # stored exactly as SQLAlchemy stores it

    since = Prepared(select(JOBS.c.id, func.count()).where(JOBS.c.run_at >= bindparam("since", type_=UTCDateTime()),
                                                           JOBS.c.status == "queued")
                     .group_by(JOBS.c.id).order_by(JOBS.c.id))
    with db.transaction() as session:
        assert since.rows(session, {"since": T0}) == [("job_1", 1), ("job_2", 1)]
        assert since.rows(session, {"since": T0 + timedelta(microseconds=1)}) == []
        # an aware time in another zone is the same instant
        assert len(since.rows(session, {"since": T0.astimezone(timezone(timedelta(hours=8)))})) == 2


def test_pending_orm_objects_are_flushed_first_and_a_rollback_takes_the_prepared_writes_too(db: Database) -> None:
    count = Prepared(select(func.count()).select_from(JOBS))
    prepared_insert = Prepared(insert(JOBS), COLUMNS)
    with pytest.raises(RuntimeError), db.transaction() as session:
        session.add(Job(**_job(1, T0)))  # pending in the unit of work
        assert count.rows(session, {}) == [(1,)]  # autoflushed, as session.execute would
        prepared_insert.execute(session, _job(2, T0))
        assert count.rows(session, {}) == [(2,)]
        raise RuntimeError("roll back")
    with db.read() as session:
        assert session.query(Job).count() == 0


def test_an_insert_that_leaves_out_a_column_with_a_python_default_is_refused(db: Database) -> None:
    leaves_out_defaults = Prepared(insert(JOBS), ("id", "kind", "args", "status", "run_at", "created_at"))
    with db.transaction() as session, pytest.raises(TypeError, match="attempts"):
        leaves_out_defaults.execute(session, _job(1, T0))


def test_insert_once_inserts_once(db: Database) -> None:
    with db.transaction() as session:
        assert insert_once(session, JOBS, _job(1, T0), ["id"]) is True
        assert insert_once(session, JOBS, _job(1, T0 + timedelta(days=1)), ["id"]) is False
    with db.read() as session:
        assert [job.run_at for job in session.query(Job)] == [T0]
