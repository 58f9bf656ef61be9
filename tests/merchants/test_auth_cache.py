"""The API-key cache: hits skip the database, misses and unknown keys do not get cached, entries expire."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Connection

from indiepay.core.clock import SystemClock
from indiepay.core.errors import AuthenticationFailed
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.auth import ADMIN, PrincipalCache, authenticate_cached, issue_key


def test_cached_keys_skip_the_database_until_they_expire(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        raw = issue_key(session, SystemClock(), merchant_id=None, role="merchant", livemode=False)
    opened: list[int] = []

    @contextmanager
    def connect() -> Iterator[Connection]:
        opened.append(1)
        with db.read_connection() as connection:
            yield connection

    cache = PrincipalCache(ttl=60)
    first = authenticate_cached(cache, connect, raw, admin_key="sk_admin_x")
    assert authenticate_cached(cache, connect, raw, admin_key="sk_admin_x") == first
    assert len(opened) == 1 and not first.livemode
    assert authenticate_cached(cache, connect, "sk_admin_x", admin_key="sk_admin_x") == ADMIN
    for bad in ("sk_test_unknown", "sk_test_unknown"):
        with pytest.raises(AuthenticationFailed):
            authenticate_cached(cache, connect, bad, admin_key=None)
    assert len(opened) == 3  # unknown keys are looked up every time, never cached
    with pytest.raises(AuthenticationFailed) as missing:
        authenticate_cached(cache, connect, None, admin_key=None)
    assert missing.value.code == "missing_api_key"
    expired = PrincipalCache(ttl=-1)
    authenticate_cached(expired, connect, raw, admin_key=None)
    authenticate_cached(expired, connect, raw, admin_key=None)
    assert len(opened) == 5
    db.dispose()
