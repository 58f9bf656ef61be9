"""The schema the migrations build is the schema the models describe: a column, index or constraint added to
one and not the other (a migration forgotten, a model not updated) fails here, not in production."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import indiepay.models  # noqa: F401 -- every table registered on the metadata
from indiepay.db.base import Base
from indiepay.db.engine import Database

# migration 0017 widens this index on SQLite only (admission reads it without touching the table; see the model)
SQLITE_ONLY_COVERING_INDEX = "ix_payments_merchant_created"


def differences(db: Database) -> list[Any]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


def test_the_migrated_schema_is_the_models_schema(db: Database) -> None:
    found = differences(db)
    if db.is_sqlite:
        widened = [d for d in found
                   if d[0] in {"remove_index", "add_index"} and d[1].name == SQLITE_ONLY_COVERING_INDEX]
        assert len(widened) == 2, found
        found = [d for d in found if d not in widened]
    assert found == []
