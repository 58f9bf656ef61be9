"""Failover between a merchant's accounts over real HTTP: the primary's gateway fails, its breaker opens
after five failures in a row, the backup takes the payments, and after the cool-down one probe payment
finds the primary healthy again and traffic returns to it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from indiepay.routing import service as routing
from tests.support.platform import PlatformUnderTest


def test_the_backup_takes_over_and_the_primary_resumes_after_recovery(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    primary, creds = merchant.own_sandbox_account("wechatpay")
    backup = merchant.sandbox_account("wechatpay", role="backup")
    knobs = httpx.post(f"{platform.sandbox}/wechatpay/_faults", json={"mchid": creds["mchid"], "fail_with_500": 5},
                       timeout=30)
    assert knobs.status_code < 300, knobs.text

    def create() -> tuple[int, Any]:
        response = merchant.create_payment()
        body = response.json()
        return response.status_code, body.get("channel_account_id") or body["error"]["details"].get("payment_id")

    failed = [create() for _ in range(5)]  # the primary answers 500: nothing was done, the caller is told
    assert [status for status, _ in failed] == [502] * 5
    stuck = platform.sql("SELECT channel_account_id, status FROM payments WHERE id IN ("
                         + ", ".join(f"'{payment_id}'" for _, payment_id in failed) + ")")
    assert {tuple(row) for row in stuck} == {(primary["id"], "pending")}  # never moved to another account

    during = [create() for _ in range(4)]  # breaker open: the backup takes them
    assert during == [(201, backup["id"])] * 4

    platform.clock.offset += timedelta(seconds=31)  # past the 30 s cool-down: one probe may go
    assert create() == (201, primary["id"])  # the gateway is healthy again (its five 500s are spent)
    after = [create() for _ in range(3)]
    assert after == [(201, primary["id"])] * 3


def test_weights_are_set_per_account_and_a_zero_weight_drains_one(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant()
    heavy = merchant.sandbox_account("wechatpay", weight=3)
    light = merchant.sandbox_account("wechatpay")
    assert (heavy["weight"], light["weight"]) == (3, 1)
    assert merchant.api.post("/v1/channel_accounts", json={"channel": "wechatpay", "sandbox": True,
                                                           "weight": -1}).status_code in (400, 422)
    routing._pick.seed(5)  # the server runs in this process: a seeded pick makes the split reproducible
    used = [merchant.create_payment().json()["channel_account_id"] for _ in range(40)]
    assert set(used) == {heavy["id"], light["id"]} and used.count(heavy["id"]) > used.count(light["id"])

    assert merchant.api.patch(f"/v1/channel_accounts/{heavy['id']}", json={"weight": 0}).status_code in (401, 403)
    drained = platform.admin.patch(f"/v1/channel_accounts/{heavy['id']}", json={"weight": 0})
    assert drained.status_code == 200 and drained.json()["weight"] == 0
    assert {merchant.create_payment().json()["channel_account_id"] for _ in range(10)} == {light["id"]}
