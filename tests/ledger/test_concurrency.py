"""Concurrent writers on PostgreSQL: one gap-free chain, and a duplicate event posted once."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.ledger import postings as p
from indiepay.ledger import service
from indiepay.ledger.models import LedgerEntry
from indiepay.ledger.verify import verify
from tests.support.concurrency import race

pytestmark = pytest.mark.postgres
CLOCK = FixedClock(datetime(2026, 11, 25, 8, 0, tzinfo=UTC))


def test_ten_writers_build_one_gap_free_chain(pg: Database) -> None:
    def write(n: int) -> None:
        for i in range(50):
            plan = p.payment_succeeded(mode="platform" if i % 2 else "independent", channel="wechatpay",
                                       merchant_id=f"mch_{n}", amount=100 + i, channel_fee=1, platform_fee=1)
            with pg.transaction() as session:
                service.post(session, CLOCK, event_key=f"payment_succeeded:pay_{n}_{i}", plan=plan)

    assert race(10, write) == []
    with pg.read() as session:
        sequences = list(session.scalars(select(LedgerEntry.sequence).order_by(LedgerEntry.sequence)))
        result = verify(session)
    assert sequences == list(range(1, 501))
    assert result.ok and result.entries_checked == 500, result


def test_a_duplicate_event_racing_on_many_threads_posts_once(pg: Database) -> None:
    plan = p.settlement(merchant_id="mch_a", amount=500)
    ids: list[str] = []

    def write(_: int) -> None:
        with pg.transaction() as session:
            ids.append(service.post(session, CLOCK, event_key="settlement:mch_a:2026-11-25", plan=plan).id)

    assert race(8, write) == []
    assert len(set(ids)) == 1
    with pg.read() as session:
        assert session.query(LedgerEntry).count() == 1
        assert verify(session).ok
