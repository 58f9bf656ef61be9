"""Shared fixtures: a real platform (API + sandbox gateways + worker) on a loopback port, on SQLite or on
the PostgreSQL that ``INDIEPAY_TEST_POSTGRES_URL`` points at (``.ci/run`` starts one)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from tests.support.platform import PlatformUnderTest, start_platform

POSTGRES_URL = os.environ.get("INDIEPAY_TEST_POSTGRES_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if POSTGRES_URL:
        return
    if os.environ.get("CI") == "true":
        raise pytest.UsageError("CI=true but INDIEPAY_TEST_POSTGRES_URL is not set: .ci/run must start PostgreSQL")
    skip = pytest.mark.skip(reason="INDIEPAY_TEST_POSTGRES_URL not set")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    assert POSTGRES_URL is not None
    import psycopg

    name = f"indiepay_test_{secrets.token_hex(6)}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated database without the platform around it, on SQLite and (marked ``postgres``) PostgreSQL."""
    sqlite = f"sqlite:///{tmp_path / 'db.sqlite'}"
    url = sqlite if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    upgrade(url)
    database = Database(url)
    yield database
    database.dispose()


@pytest.fixture
def pg(postgres_url: str) -> Iterator[Database]:
    """A migrated PostgreSQL database (for tests that only make sense there: racing writers)."""
    upgrade(postgres_url)
    database = Database(postgres_url)
    yield database
    database.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'indiepay.db'}"


@pytest.fixture
def platform(tmp_path: Path, sqlite_url: str) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, sqlite_url) as running:
        yield running


@pytest.fixture
def pg_platform(tmp_path: Path, postgres_url: str) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, postgres_url) as running:
        yield running


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_platform(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PlatformUnderTest]:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'indiepay.db'}"
        with start_platform(tmp_path, url) as running:
            yield running
    else:
        url = request.getfixturevalue("postgres_url")
        with start_platform(tmp_path, url) as running:
            yield running
