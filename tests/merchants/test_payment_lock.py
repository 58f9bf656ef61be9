"""The merchant lock every payment's transaction takes (PostgreSQL): it serialises payments of one merchant
and anything that updates the merchant row, and lets rows that only reference the merchant go in meanwhile
(a callback's event, a webhook delivery, a ledger entry: their foreign key takes ``FOR KEY SHARE``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.models import Merchant
from indiepay.merchants.repository import lock_merchant
from indiepay.webhooks.models import Event

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 11, 27, 4, tzinfo=UTC)
WAIT = "300ms"  # how long the second transaction waits before it counts as blocked


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    upgrade(postgres_url)
    database = Database(postgres_url)
    with database.transaction() as session:
        session.add(Merchant(id="mch_lock", name="Lock Tea", short_name="Lock", subject_type="individual",
                             contact_email=None, status="active", created_at=NOW))
    yield database
    database.dispose()


@contextmanager
def _other(db: Database) -> Iterator[Session]:
    """A second transaction on its own connection, giving up on a lock after :data:`WAIT`; rolled back
    (unless committed) and closed on the way out."""
    connection = db.engine.connect()
    session = Session(bind=connection)
    try:
        session.execute(text(f"SET lock_timeout = '{WAIT}'"))
        yield session
    finally:
        session.rollback()
        session.close()
        connection.close()


def test_rows_that_reference_the_merchant_go_in_while_a_payment_holds_its_lock(db: Database) -> None:
    with db.transaction() as payment:
        assert lock_merchant(payment, "mch_lock") is not None
        with _other(db) as callback:  # a callback of another payment of this merchant emits its event: no wait
            callback.execute(insert(Event).values(
                id="evt_1", merchant_id="mch_lock", livemode=True, type="payment.succeeded", dedupe_key="k1",
                data={}, delivered=False, created_at=NOW))
            callback.commit()


@pytest.mark.parametrize("second", ["payment", "suspension"])
def test_a_second_payment_or_a_change_to_the_merchant_waits_for_the_lock(db: Database, second: str) -> None:
    with db.transaction() as payment:
        assert lock_merchant(payment, "mch_lock") is not None
        with _other(db) as other, pytest.raises(OperationalError, match="lock timeout"):
            if second == "payment":
                lock_merchant(other, "mch_lock")
            else:
                other.execute(update(Merchant).where(Merchant.id == "mch_lock")
                              .values(status="suspended"))
