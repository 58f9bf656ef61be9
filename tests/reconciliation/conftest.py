"""Fixtures: a platform runtime (no HTTP server) on SQLite and PostgreSQL with a fixed clock the morning
after the reconciled day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from indiepay.context import ServiceContext
from indiepay.core.clock import FixedClock
from indiepay.db.migrate import upgrade
from indiepay.runtime import Runtime
from tests.reconciliation.world import DAY, World, beijing
from tests.support.platform import settings_for_test


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(beijing(DAY.replace(day=DAY.day + 1), 10))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ctx(request: pytest.FixtureRequest, tmp_path: Path, clock: FixedClock) -> Iterator[ServiceContext]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}" if request.param == "sqlite" else request.getfixturevalue(
        "postgres_url")
    upgrade(url)
    runtime = Runtime.build(settings_for_test(tmp_path, url, 0, run_worker=False, mount_sandbox=False), clock)
    yield runtime.ctx
    runtime.close()


@pytest.fixture
def sqlite_ctx(tmp_path: Path, clock: FixedClock) -> Iterator[ServiceContext]:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    runtime = Runtime.build(settings_for_test(tmp_path, url, 0, run_worker=False, mount_sandbox=False), clock)
    yield runtime.ctx
    runtime.close()


@pytest.fixture
def world(ctx: ServiceContext) -> World:
    return World(ctx)
