"""The ledger is append-only in the database itself: a plain UPDATE or DELETE of an entry or a posting is
refused with a clear message on SQLite and PostgreSQL, the ledger is left intact, and appending (which
moves the chain head) keeps working. The tamper-detection tests go around this with ``tamper.py``."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.ledger import postings as p
from indiepay.ledger import service
from indiepay.ledger.models import LedgerEntry, LedgerPosting
from indiepay.ledger.verify import verify
from tests.ledger.tamper import tamper

CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))


def _post(db: Database, *keys: str) -> None:
    with db.transaction() as session:
        for key in keys:
            service.post(session, CLOCK, event_key=key, plan=p.settlement(merchant_id="mch_a", amount=100))


@pytest.mark.parametrize(("sql", "expected"), [
    ("UPDATE ledger_entries SET description = 'edited' WHERE sequence = 1",
     "ledger_entries is append-only: UPDATE refused"),
    ("UPDATE ledger_postings SET amount = amount + 1",
     "ledger_postings is append-only: UPDATE refused"),
    ("DELETE FROM ledger_postings WHERE entry_id = (SELECT id FROM ledger_entries WHERE sequence = 2)",
     "ledger_postings is append-only: DELETE refused; financial records are never deleted"),
    ("DELETE FROM ledger_entries WHERE sequence = 2",
     "ledger_entries is append-only: DELETE refused; financial records are never deleted"),
])
def test_plain_edits_of_the_ledger_are_refused(db: Database, sql: str, expected: str) -> None:
    _post(db, "settlement:a", "settlement:b")
    with pytest.raises(IntegrityError) as caught, db.engine.begin() as conn:
        conn.execute(text(sql))
    assert expected in str(caught.value.orig)
    _post(db, "settlement:c")  # the chain head is not guarded: appending still moves it
    with db.read() as session:
        result = verify(session)
    assert result.ok and result.entries_checked == 3, result


def test_orm_edits_are_refused_too(db: Database) -> None:
    _post(db, "settlement:a")
    with pytest.raises(IntegrityError, match="append-only"), db.transaction() as session:
        entry = session.scalars(select(LedgerEntry)).one()
        entry.description = "edited through the ORM"
        session.flush()
    with pytest.raises(IntegrityError, match="never deleted"), db.transaction() as session:
        session.delete(session.scalars(select(LedgerPosting)).first())
        session.flush()
    with db.read() as session:
        assert verify(session).ok


def test_the_tamper_helper_gets_through_only_by_dropping_the_guards(db: Database) -> None:
    _post(db, "settlement:a", "settlement:b")
    tamper(db, "UPDATE ledger_entries SET description = 'edited' WHERE sequence = 2")
    with db.read() as session:
        result = verify(session)
    assert not result.ok and result.first_broken_sequence == 2
