"""The kill switch across processes and the daily limits under concurrency.

- A suspension made through one server process is obeyed by another ``indiepay serve`` process (its own
  API-key cache, its own worker, the same database) on the very next request.
- Concurrent payments cannot jointly pass a merchant's daily limit, nor a shared platform account's daily
  cap (PostgreSQL, where writers really run at once).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from indiepay.cli.localserver import free_port
from tests.support.concurrency import race
from tests.support.platform import PlatformUnderTest


@contextmanager
def second_process(platform: PlatformUnderTest) -> Iterator[str]:
    """``indiepay serve`` in a child process on the platform's database, vault key and sandbox."""
    port = free_port()
    settings = platform.settings
    env = {**os.environ, "INDIEPAY_DATABASE_URL": settings.database_url,
           "INDIEPAY_MASTER_KEY": str(settings.master_key), "INDIEPAY_ADMIN_KEY": str(settings.admin_key),
           "INDIEPAY_VAR_DIR": str(settings.var_dir), "INDIEPAY_MOUNT_SANDBOX": "false",
           "INDIEPAY_SANDBOX_URL": settings.sandbox_base_url, "INDIEPAY_LOG_LEVEL": "warning"}
    child = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "serve", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or child.poll() is not None:
                raise AssertionError("the second server process did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        child.terminate()
        child.wait(timeout=30)


def order(amount: int = 100) -> dict[str, object]:
    return {"amount": amount, "currency": "CNY", "out_trade_no": f"X{secrets.token_hex(8)}", "description": "tea",
            "method": "wechat_native"}


def test_a_suspension_is_obeyed_by_another_process_on_its_next_request(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    account = merchant.sandbox_account("wechatpay")
    with second_process(platform) as other_url, httpx.Client(base_url=other_url, timeout=60,
                                                             headers=dict(merchant.api.headers)) as other:
        assert other.post("/v1/payments", json=order()).status_code == 201  # the other process knows the key now

        suspended = platform.admin.post(f"/v1/merchants/{merchant.id}/suspend", json={"reason": "fraud report"})
        assert suspended.status_code == 200
        refused = other.post("/v1/payments", json=order())
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "merchant_suspended"
        assert platform.admin.post(f"/v1/merchants/{merchant.id}/resume", json={"reason": "cleared"}).status_code == 200
        assert other.post("/v1/payments", json=order()).status_code == 201

        paused = merchant.api.post(f"/v1/channel_accounts/{account['id']}/suspend", json={"reason": "new keys"})
        assert paused.status_code == 200
        refused = other.post("/v1/payments", json=order())
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "account_suspended"


@pytest.mark.postgres
def test_concurrent_payments_cannot_jointly_pass_the_daily_limit(pg_platform: PlatformUnderTest) -> None:
    merchant = pg_platform.merchant("Busy")
    merchant.sandbox_account("wechatpay")
    merchant.sandbox_account("wechatpay", role="backup")
    assert pg_platform.admin.patch(f"/v1/merchants/{merchant.id}", json={"daily_limit": 10_000}).status_code == 200
    codes: list[int] = []

    def pay(n: int) -> None:
        with httpx.Client(base_url=pg_platform.base_url, timeout=60, headers=dict(merchant.api.headers)) as client:
            codes.append(client.post("/v1/payments", json=order(1_000)).status_code)

    assert race(20, pay) == []
    assert sorted(codes) == [201] * 10 + [422] * 10
    total = pg_platform.sql("SELECT coalesce(sum(amount), 0) FROM payments WHERE merchant_id = :m", m=merchant.id)
    assert int(total[0][0]) == 10_000


@pytest.mark.postgres
def test_concurrent_merchants_cannot_jointly_pass_a_platform_accounts_cap(pg_platform: PlatformUnderTest) -> None:
    shared = pg_platform.platform_account("wechatpay")
    assert pg_platform.admin.patch(f"/v1/channel_accounts/{shared['id']}", json={"daily_cap": 5_000}).status_code == 200
    merchants = [pg_platform.merchant(f"Shop {n}") for n in range(3)]
    for merchant in merchants:
        changed = pg_platform.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
        assert changed.status_code == 200, changed.text
    codes: list[tuple[int, str]] = []

    def pay(n: int) -> None:
        merchant = merchants[n % 3]
        with httpx.Client(base_url=pg_platform.base_url, timeout=60, headers=dict(merchant.api.headers)) as client:
            response = client.post("/v1/payments", json=order(1_000))
            codes.append((response.status_code, response.json().get("error", {}).get("code", "")))

    assert race(12, pay) == []
    assert sorted(codes) == [(201, "")] * 5 + [(422, "limit_exceeded")] * 7
    total = pg_platform.sql("SELECT coalesce(sum(amount), 0) FROM payments WHERE channel_account_id = :a",
                            a=shared["id"])
    assert int(total[0][0]) == 5_000
