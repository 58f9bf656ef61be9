"""A migrated database for statement tests (SQLite, and PostgreSQL when marked), and helpers that put a
merchant and ledger entries in it directly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import service as ledger
from indiepay.ledger.postings import PostingPlan
from indiepay.merchants.models import Merchant


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    sqlite = f"sqlite:///{tmp_path / 'statements.db'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


def add_merchant(db: Database, merchant_id: str, name: str = "Tea Shop Ltd.", **fields: object) -> None:
    with db.transaction() as session:
        session.add(Merchant(id=merchant_id, name=name, short_name=name[:64], subject_type="enterprise",
                             created_at=datetime(2025, 1, 1, tzinfo=UTC), **fields))


def post(db: Database, key: str, plan: PostingPlan, at: datetime) -> Any:
    """Post ``plan`` as the event ``key`` that occurred ``at``; returns the entry (``.id``)."""
    with db.transaction() as session:
        return ledger.post(session, FixedClock(at), event_key=key, plan=plan, occurred_at=at)
