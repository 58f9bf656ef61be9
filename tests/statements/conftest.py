"""Helpers that put a merchant and ledger entries straight into the test database (the ``db`` fixture
is in tests/conftest.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.ledger import service as ledger
from indiepay.ledger.postings import PostingPlan
from indiepay.merchants.models import Merchant


def add_merchant(db: Database, merchant_id: str, name: str = "Tea Shop Ltd.", **fields: object) -> None:
    with db.transaction() as session:
        session.add(Merchant(id=merchant_id, name=name, short_name=name[:64], subject_type="enterprise",
                             created_at=datetime(2025, 1, 1, tzinfo=UTC), **fields))


def post(db: Database, key: str, plan: PostingPlan, at: datetime) -> Any:
    """Post ``plan`` as the event ``key`` that occurred ``at``; returns the entry (``.id``)."""
    with db.transaction() as session:
        return ledger.post(session, FixedClock(at), event_key=key, plan=plan, occurred_at=at)
