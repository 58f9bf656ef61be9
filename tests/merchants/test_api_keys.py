"""Merchant API keys over real HTTP: rolling with a grace period, read-only keys, failed-auth limiting per IP
and per key that leaves other callers alone, and a cache that never outlives a key's expiry."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Connection, update

from indiepay.core.clock import SystemClock
from indiepay.core.errors import AuthenticationFailed
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.auth import PrincipalCache, authenticate_cached, create_key
from indiepay.merchants.auth_limits import AuthFailureLimiter
from indiepay.merchants.models import ApiKey
from tests.support.platform import PlatformUnderTest


def _client(platform: PlatformUnderTest, key: str, ip: str = "127.0.0.1") -> httpx.Client:
    client = httpx.Client(base_url=platform.base_url, timeout=30, headers={"Authorization": f"Bearer {key}"},
                          transport=httpx.HTTPTransport(local_address=ip))
    platform.clients.append(client)
    return client


def test_roll_keeps_the_old_key_until_it_expires(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    rolled = merchant.api.post("/v1/api_keys/roll", json={"expires_in_seconds": 3600})
    assert rolled.status_code == 201, rolled.text
    body = rolled.json()
    assert body["key"].startswith("sk_test_") and body["mode"] == "test" and not body["read_only"]
    assert body["old_key"]["key"] is None and body["old_key"]["expires_at"] is not None
    new = _client(platform, body["key"])
    assert new.get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert merchant.api.get(f"/v1/merchants/{merchant.id}").status_code == 200  # still in its grace period

    again = new.post("/v1/api_keys/roll", json={"expires_in_seconds": 0})
    assert again.status_code == 201, again.text
    refused = new.get(f"/v1/merchants/{merchant.id}")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_expired"
    assert _client(platform, again.json()["key"]).get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert merchant.live.get(f"/v1/merchants/{merchant.id}").status_code == 200  # the live key is untouched
    rolls = [e for e in platform.admin.get("/v1/audit_events", params={"action": "api_key.rolled"}).json()]
    assert [e["target_id"] for e in rolls] == [body["old_key"]["id"], again.json()["old_key"]["id"]]
    assert platform.admin.post("/v1/api_keys/roll", json={}).status_code == 404  # merchant keys only
    assert merchant.live.post("/v1/api_keys/roll", json={"expires_in_seconds": -1}).status_code == 400


def test_read_only_keys_cannot_mutate(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    merchant.sandbox_account("wechatpay")
    paid = merchant.create_payment(amount=2000).json()
    created = merchant.api.post("/v1/api_keys", json={"mode": "test", "read_only": True})
    assert created.status_code == 201, created.text
    assert created.json()["read_only"] is True
    reader = _client(platform, created.json()["key"])
    assert reader.get(f"/v1/payments/{paid['id']}").status_code == 200
    for method, path, body in (("POST", "/v1/payments", {"amount": 1, "currency": "CNY", "out_trade_no": "x1",
                                                         "description": "d", "method": "wechat_native"}),
                               ("POST", "/v1/refunds", {"payment_id": paid["id"], "amount": 1}),
                               ("POST", "/v1/api_keys", {"mode": "test"}),
                               ("POST", "/v1/api_keys/roll", {}),
                               ("PUT", f"/v1/merchants/{merchant.id}/collection_mode", {"mode": "platform"})):
        response = reader.request(method, path, json=body)
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == "read_only_key"
    wrong_mode = merchant.api.post("/v1/api_keys", json={"mode": "live", "read_only": True})
    assert wrong_mode.status_code == 403 and wrong_mode.json()["error"]["code"] == "mode_mismatch"
    assert merchant.api.post("/v1/api_keys", json={"mode": "test", "merchant_id": "x"}).status_code == 400


def test_failed_auth_is_limited_per_ip_without_locking_out_merchants_keys(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    raw = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    attacker = _client(platform, "sk_test_wrong", ip="127.0.0.3")
    codes = [attacker.get("/v1/payments").status_code for _ in range(20)]
    assert codes == [401] * 20
    blocked = attacker.get("/v1/payments")
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "too_many_auth_failures"
    assert attacker.get("/v1/payments", headers={"Authorization": "Bearer sk_test_other"}).status_code == 429
    # a merchant's own key still works from that IP (a shop platform calls for all its merchants from the
    # same addresses: one merchant's stale key must not lock the others out) and from any other
    assert _client(platform, raw, ip="127.0.0.3").get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert _client(platform, raw, ip="127.0.0.4").get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert merchant.api.get(f"/v1/merchants/{merchant.id}").status_code == 200
    # the admin key — operator-chosen, perhaps guessable — gets the same 429 as a wrong one from that IP
    admin_key = platform.admin.headers["Authorization"].removeprefix("Bearer ")
    assert _client(platform, admin_key, ip="127.0.0.3").get(f"/v1/merchants/{merchant.id}").status_code == 429
    assert _client(platform, admin_key, ip="127.0.0.4").get(f"/v1/merchants/{merchant.id}").status_code == 200
    failures = platform.admin.get("/v1/audit_events", params={"action": "auth.failed", "limit": 1000}).json()
    assert len(failures) == 20 and {e["origin"] for e in failures} == {"127.0.0.3"}  # refusals not audited


def test_failures_count_across_server_processes(any_platform: PlatformUnderTest) -> None:
    """Twenty failures seen by one process throttle the address for another: the second process's own
    memory is empty (a fresh limiter, as a second server behind the load balancer has), yet it counts the
    database's failures — for a wrong key, the admin key and a dashboard sign-in alike — while merchants'
    keys and other addresses carry on."""
    platform = any_platform
    merchant = platform.merchant("Tea")
    raw = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    admin_key = platform.admin.headers["Authorization"].removeprefix("Bearer ")
    attacker = _client(platform, "sk_test_wrong", ip="127.0.0.5")
    assert [attacker.get("/v1/payments").status_code for _ in range(20)] == [401] * 20
    principals = platform.runtime.ctx.principals
    principals.failures = AuthFailureLimiter()  # the next request lands on "another process"
    blocked = attacker.get("/v1/payments")
    assert blocked.status_code == 429 and blocked.json()["error"]["code"] == "too_many_auth_failures"
    principals.failures = AuthFailureLimiter()
    assert _client(platform, admin_key, ip="127.0.0.5").get(f"/v1/merchants/{merchant.id}").status_code == 429
    principals.failures = AuthFailureLimiter()
    signing_in = httpx.Client(base_url=platform.base_url, timeout=30, transport=httpx.HTTPTransport(
        local_address="127.0.0.5"))
    platform.clients.append(signing_in)
    assert signing_in.post("/dashboard/login", data={"api_key": admin_key}).status_code == 429
    assert signing_in.post("/dashboard/login", data={"api_key": "sk_test_guess"}).status_code == 429
    principals.failures = AuthFailureLimiter()
    assert _client(platform, raw, ip="127.0.0.5").get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert _client(platform, admin_key, ip="127.0.0.6").get(f"/v1/merchants/{merchant.id}").status_code == 200
    # the window's twenty are on record; the refusals beyond them are not (a guessing run is, already)
    assert platform.sql("SELECT count(*) FROM audit_events WHERE action = 'auth.failed' AND origin = '127.0.0.5'") \
        == [(20,)]


def test_failing_with_a_keys_prefix_does_not_lock_that_key_out(platform: PlatformUnderTest) -> None:
    """The audit log labels a key by its first characters; failing twenty times with a key of that prefix —
    from many addresses — throttles the prefix for wrong keys only: the merchant's key itself carries on."""
    merchant = platform.merchant("Tea")
    raw = merchant.api.headers["Authorization"].removeprefix("Bearer ")
    forged = raw[:12] + "x" * (len(raw) - 12)
    codes = [_client(platform, forged, ip=f"127.0.1.{n}").get("/v1/payments").status_code for n in range(1, 21)]
    assert codes == [401] * 20
    assert _client(platform, forged, ip="127.0.1.99").get("/v1/payments").status_code == 429
    assert _client(platform, raw, ip="127.0.1.99").get(f"/v1/merchants/{merchant.id}").status_code == 200
    assert merchant.api.get(f"/v1/merchants/{merchant.id}").status_code == 200


def test_limiter_counts_per_ip_and_per_key_in_a_sliding_window() -> None:
    now = [1000.0]
    limiter = AuthFailureLimiter(per_ip=3, per_key=2, window=60, now=lambda: now[0])
    for ip in ("10.0.0.1", "10.0.0.2"):
        limiter.failed(ip, "key:sk_test_abcd")
    assert limiter.key_throttled("key:sk_test_abcd")  # one key prefix tried from many addresses
    assert not limiter.throttled("10.0.0.3") and not limiter.key_throttled("key:sk_test_zzzz")
    limiter.failed("10.0.0.1", None)
    limiter.failed("10.0.0.1", None)
    assert limiter.throttled("10.0.0.1") and not limiter.throttled("10.0.0.2")
    now[0] += 61
    assert not limiter.throttled("10.0.0.1") and not limiter.key_throttled("key:sk_test_abcd")  # the window slid


def test_the_principal_cache_never_outlives_a_keys_expiry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    upgrade(url)
    db = Database(url)
    with db.transaction() as session:
        row, raw = create_key(session, SystemClock(), merchant_id=None, role="merchant", livemode=False,
                              read_only=True)
        key_id = row.id

    @contextmanager
    def connect() -> Iterator[Connection]:
        with db.read_connection() as connection:
            yield connection

    cache = PrincipalCache(ttl=60)
    principal = authenticate_cached(cache, connect, raw, admin_key=None)
    assert principal.read_only and principal.key_id == key_id
    # two seconds of validity: a loaded CI machine once took more than half a second between this update and
    # the next line's lookup, and the key had expired before it was read
    with db.transaction() as session:
        session.execute(update(ApiKey).where(ApiKey.id == key_id)
                        .values(expires_at=datetime.now(UTC) + timedelta(seconds=2)))
    cache.clear()
    assert authenticate_cached(cache, connect, raw, admin_key=None) == principal  # cached, but only for 2 s
    time.sleep(2.1)
    with pytest.raises(AuthenticationFailed) as expired:
        authenticate_cached(cache, connect, raw, admin_key=None)
    assert expired.value.code == "api_key_expired"
    db.dispose()


def test_the_operator_issues_a_merchant_a_new_key_and_the_old_ones_stop(platform: PlatformUnderTest) -> None:
    """A merchant's keys are shown once and never replayed: one that lost them — or whose key leaked — gets a
    new one from the operator, and by default every other key of that mode stops working at once."""
    tea, cake = platform.merchant("Tea"), platform.merchant("Cake")
    reader = tea.live.post("/v1/api_keys", json={"mode": "live", "read_only": True}).json()["key"]
    issued = platform.admin.post(f"/v1/merchants/{tea.id}/api_keys", json={"mode": "live"})
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["key"].startswith("sk_live_") and body["mode"] == "live" and not body["read_only"]
    new = _client(platform, body["key"])
    assert new.get(f"/v1/merchants/{tea.id}").status_code == 200
    for old in (tea.live, _client(platform, reader)):
        assert old.get(f"/v1/merchants/{tea.id}").status_code == 401
    assert tea.api.get(f"/v1/merchants/{tea.id}").status_code == 200  # the test key: the other mode, untouched
    assert cake.live.get(f"/v1/merchants/{cake.id}").status_code == 200  # another merchant's, untouched
    event = platform.admin.get("/v1/audit_events", params={"action": "api_key.issued"}).json()[-1]
    assert event["merchant_id"] == tea.id and len(event["details"]["revoked_key_ids"]) == 2
    assert body["key"] not in str(event)

    kept = platform.admin.post(f"/v1/merchants/{tea.id}/api_keys", json={"mode": "test", "revoke_existing": False})
    assert kept.status_code == 201 and kept.json()["key"].startswith("sk_test_")
    assert tea.api.get(f"/v1/merchants/{tea.id}").status_code == 200  # kept, as asked

    for caller, path, payload, status, code in (
            (tea.api, f"/v1/merchants/{tea.id}/api_keys", {"mode": "test"}, 403, "admin_required"),
            (platform.admin, "/v1/merchants/mch_nobody/api_keys", {"mode": "test"}, 404, "merchant_not_found"),
            (platform.admin, f"/v1/merchants/{tea.id}/api_keys", {"mode": "admin"}, 400, "invalid_request")):
        refused = caller.post(path, json=payload)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code), refused.text
