"""Running the Alembic migrations programmatically (``indiepay migrate``, tests, ``make serve``)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from indiepay.db.engine import normalise_url

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", normalise_url(url).replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    """Bring the database at ``url`` to the newest schema."""
    command.upgrade(alembic_config(url), "head")
