"""Dashboard sessions against a real database (both kinds): resolved from the key's hash each time, ended
by sign-out, expiry or the key's revocation; pruned by the daily job a month after they ended."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from indiepay.core.clock import FixedClock
from indiepay.core.errors import AuthenticationFailed
from indiepay.dashboard import service, tasks
from indiepay.dashboard.models import DashboardSession
from indiepay.db.engine import Database
from indiepay.merchants.auth import ADMIN, authenticate, issue_key
from indiepay.merchants.models import ApiKey, Merchant

NOW = datetime(2026, 11, 27, 6, tzinfo=UTC)
ADMIN_KEY = "sk_admin_sessions_test"


def _merchant_key(db: Database) -> str:
    clock = FixedClock(NOW)
    with db.transaction() as session:
        session.add(Merchant(id="mch_sessions", name="Tea Ltd.", short_name="Tea", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="independent", created_at=NOW))
        session.flush()
        return issue_key(session, clock, merchant_id="mch_sessions", role="merchant", livemode=False)


def _start(db: Database, raw: str, at: datetime = NOW) -> str:
    with db.transaction() as session:
        principal = authenticate(session, raw, admin_key=ADMIN_KEY)
        return service.start(session, FixedClock(at), principal, raw, origin="127.0.0.1")


def _resolve(db: Database, token: str | None, at: datetime = NOW) -> service.Signed:
    with db.read() as session:
        return service.resolve(session, token, admin_key=ADMIN_KEY, now=at)


def test_a_session_resolves_to_its_key_until_it_ends(db: Database) -> None:
    raw = _merchant_key(db)
    token = _start(db, raw)
    signed = _resolve(db, token)
    assert signed.principal.merchant_id == "mch_sessions" and not signed.principal.livemode
    assert service.csrf_ok(signed, signed.csrf_token) and not service.csrf_ok(signed, "x") \
        and not service.csrf_ok(signed, None)
    with db.read() as session:
        stored = session.scalars(select(DashboardSession)).one()
    assert token not in (stored.token_hash, stored.id) and raw not in (stored.key_hash, stored.actor)
    with pytest.raises(AuthenticationFailed):
        _resolve(db, token, NOW + service.LIFETIME)  # expired
    with db.transaction() as session:
        service.end(session, FixedClock(NOW), token)
    with pytest.raises(AuthenticationFailed):
        _resolve(db, token)  # signed out
    for bad in (None, "", "not-a-token"):
        with pytest.raises(AuthenticationFailed):
            _resolve(db, bad)


def test_revoking_the_key_ends_its_sessions_and_the_admin_key_works_by_its_hash(db: Database) -> None:
    raw = _merchant_key(db)
    token = _start(db, raw)
    with db.transaction() as session:
        session.execute(update(ApiKey).values(revoked_at=NOW))
    with pytest.raises(AuthenticationFailed):
        _resolve(db, token)
    assert _resolve(db, _start(db, ADMIN_KEY)).principal == ADMIN


def test_the_daily_job_prunes_sessions_a_month_after_they_ended(db: Database) -> None:
    raw = _merchant_key(db)
    old, ended, fresh = (_start(db, raw, NOW - timedelta(days=40)), _start(db, raw, NOW - timedelta(days=35)),
                         _start(db, raw, NOW))
    with db.transaction() as session:
        service.end(session, FixedClock(NOW - timedelta(days=34)), ended)
    assert tasks.prune(db, FixedClock(NOW)) == 2
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(DashboardSession)) == 1
    assert _resolve(db, fresh).principal.merchant_id == "mch_sessions"
    assert old != fresh
    day = NOW.date()
    assert tasks.run_prune_job(db, FixedClock(tasks.run_at(day) + timedelta(minutes=1)),
                               {"date": day.isoformat()}) is None
