"""Alembic environment: the URL comes from the caller (``indiepay migrate``), never from a file."""

from __future__ import annotations

from alembic import context

from indiepay.db.engine import make_engine
from indiepay.models import metadata

config = context.config


def run_migrations() -> None:
    url = config.get_main_option("sqlalchemy.url")
    assert url, "indiepay migrate sets sqlalchemy.url"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True,
                          compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
