"""A running platform for tests, and a merchant-side client with the common steps."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import text, update

from indiepay.app import create_app
from indiepay.config import Settings
from indiepay.db.jobs.models import Job
from indiepay.db.migrate import upgrade
from indiepay.runtime import Runtime
from tests.support.servers import free_port, serve_in_thread


@dataclass
class PlatformUnderTest:
    base_url: str
    settings: Settings
    runtime: Runtime
    admin: httpx.Client
    clock: OffsetClock
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def sandbox(self) -> str:
        return self.settings.sandbox_base_url

    def merchant(self, short_name: str = "Tea Shop", subject_type: str = "enterprise") -> MerchantClient:
        response = self.admin.post("/v1/merchants", json={
            "name": f"{short_name} Ltd.", "short_name": short_name, "subject_type": subject_type})
        assert response.status_code == 201, response.text
        body = response.json()
        test = httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {body['api_keys']['test']}"})
        live = httpx.Client(base_url=self.base_url, timeout=60,
                            headers={"Authorization": f"Bearer {body['api_keys']['live']}"})
        self.clients += [test, live]
        return MerchantClient(self, body, test, live)

    def platform_merchant(self, short_name: str) -> MerchantClient:
        """A merchant switched to collecting through the platform (by the operator, so any mode's test may)."""
        merchant = self.merchant(short_name)
        switched = self.admin.put(f"/v1/merchants/{merchant.id}/collection_mode", json={"mode": "platform"})
        assert switched.status_code == 200, switched.text
        return merchant

    def platform_account(self, channel: str, *, live: bool = False) -> dict[str, Any]:
        """One of the platform's own accounts (platform collection); ``live`` points a production one at the
        sandbox (see :meth:`MerchantClient.live_account`)."""
        if not live:
            response = self.admin.post("/v1/platform/channel_accounts", json={"channel": channel, "sandbox": True})
            assert response.status_code == 201, response.text
            return dict(response.json())
        credentials = httpx.post(f"{self.sandbox}/{channel}/_provision", json={}, timeout=30).json()["credentials"]
        response = self.admin.post("/v1/platform/channel_accounts", json={
            "channel": channel, "environment": "production", "credentials": credentials})
        assert response.status_code == 201, response.text
        self.point_at_sandbox(response.json()["id"], channel)
        return dict(response.json())

    def point_at_sandbox(self, account_id: str, channel: str) -> None:
        """A production account cannot reach the real channel here: send it to the sandbox (tests only)."""
        path = "/wechatpay" if channel == "wechatpay" else "/alipay/gateway.do"
        self.sql("UPDATE channel_accounts SET base_url = :url WHERE id = :id", url=self.sandbox + path, id=account_id)

    def run_jobs_now(self, kind: str) -> None:
        """Make every queued job of ``kind`` due now and let the worker run them."""
        with self.runtime.ctx.db.transaction() as session:
            session.execute(update(Job).where(Job.kind == kind, Job.status == "queued")
                            .values(run_at=self.clock.now() - timedelta(seconds=1)))
        self.runtime.worker.wake()

    def run_jobs_until_one_is_done(self, kind: str, timeout: float = 20.0) -> None:
        """Keep making ``kind``'s queued jobs due until one of them has finished (not just run once)."""
        deadline = time.monotonic() + timeout
        while not self.sql("SELECT 1 FROM jobs WHERE kind = :kind AND status = 'done'", kind=kind):
            assert time.monotonic() < deadline, self.what_it_heard()
            self.run_jobs_now(kind)
            time.sleep(0.1)

    def what_it_heard(self) -> str:
        """The callbacks this platform accepted and rejected, and its unfinished jobs — for a failed wait."""
        heard = self.sql("SELECT received_at, event_type, result, detail FROM received_notifications "
                         "ORDER BY received_at")
        rejected = self.sql("SELECT received_at, reason, detail FROM rejected_notifications ORDER BY received_at")
        jobs = self.sql("SELECT kind, status, attempts, run_at, last_error FROM jobs WHERE status != 'done' "
                        "ORDER BY run_at")
        lines = ["callbacks accepted:", *map(repr, heard), "callbacks rejected:", *map(repr, rejected),
                 "jobs not done:", *map(repr, jobs)]
        return "\n".join(lines)

    def sql(self, statement: str, **params: Any) -> Any:
        with self.runtime.ctx.db.transaction() as session:
            result = session.execute(text(statement), params)
            return result.all() if result.returns_rows else None


@dataclass
class MerchantClient:
    platform: PlatformUnderTest
    body: dict[str, Any]
    api: httpx.Client
    live: httpx.Client

    @property
    def id(self) -> str:
        return str(self.body["id"])

    def own_sandbox_account(self, channel: str) -> tuple[dict[str, Any], dict[str, str]]:
        """Provision at the sandbox ourselves, so the test knows the credentials (mchid, keys)."""
        provisioned = httpx.post(f"{self.platform.sandbox}/{channel}/_provision", json={}, timeout=30)
        credentials = provisioned.json()["credentials"]
        response = self.api.post("/v1/channel_accounts", json={
            "channel": channel, "environment": "sandbox", "credentials": credentials})
        assert response.status_code == 201, response.text
        return dict(response.json()), credentials

    def live_account(self, channel: str, **extra: Any) -> dict[str, Any]:
        """A production account with sandbox-provisioned credentials, pointed at the sandbox gateway."""
        credentials = httpx.post(f"{self.platform.sandbox}/{channel}/_provision", json={},
                                 timeout=30).json()["credentials"]
        response = self.live.post("/v1/channel_accounts", json={
            "channel": channel, "environment": "production", "credentials": credentials, **extra})
        assert response.status_code == 201, response.text
        self.platform.point_at_sandbox(response.json()["id"], channel)
        return dict(response.json())

    def verify(self, account: dict[str, Any], client: httpx.Client | None = None) -> dict[str, Any]:
        """Run the account's 0.01 test payment (the sandbox buyer pays it) until the account is verified."""
        client = client or (self.live if account["environment"] == "production" else self.api)
        started = client.post(f"/v1/channel_accounts/{account['id']}/verification")
        assert started.status_code == 201, started.text
        assert self.pay(started.json()).status_code < 300
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = client.get(f"/v1/channel_accounts/{account['id']}").json()
            if body["verified_at"]:
                return dict(body)
            self.platform.run_jobs_now("refund.sync")
            time.sleep(0.1)
        raise AssertionError(f"account {account['id']} was not verified: {body}")

    def sandbox_account(self, channel: str, **extra: Any) -> dict[str, Any]:
        response = self.api.post("/v1/channel_accounts", json={"channel": channel, "sandbox": True, **extra})
        assert response.status_code == 201, response.text
        return dict(response.json())

    def create_payment(self, method: str = "wechat_native", amount: int = 1000, *, live: bool = False,
                       **extra: Any) -> httpx.Response:
        body = {"amount": amount, "currency": "CNY", "out_trade_no": f"T{secrets.token_hex(8)}",
                "description": "Green tea", "method": method, **extra}
        return (self.live if live else self.api).post("/v1/payments", json=body)

    def pay(self, payment: dict[str, Any]) -> httpx.Response:
        """The sandbox buyer pays the payment's QR code."""
        code = payment["action"]["code_url"]
        if payment["channel"] == "wechatpay":
            return httpx.post(f"{self.platform.sandbox}/wechatpay/_buyer/pay", json={"code_url": code}, timeout=30)
        return httpx.post(f"{self.platform.sandbox}/{payment['channel']}/_buyer/pay", json={"qr_code": code},
                          timeout=30)

    def wait_status(self, path: str, wanted: str, timeout: float = 20.0, *, live: bool = False) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        body: dict[str, Any] = {}
        while time.monotonic() < deadline:
            body = (self.live if live else self.api).get(path).json()
            if body.get("status") == wanted:
                return body
            time.sleep(0.05)
        raise AssertionError(f"{path} stayed {body.get('status')!r}, wanted {wanted!r}: {body}\n"
                             + self.platform.what_it_heard())


def settings_for_test(tmp_path: Path, url: str, port: int, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": url, "var_dir": tmp_path / "var", "port": port,
        "admin_key": "sk_admin_test_" + secrets.token_hex(8), "master_key": secrets.token_urlsafe(32),
        "sandbox_time_factor": 1000.0, "worker_poll_seconds": 0.05, "channel_timeout_seconds": 5.0,
        "sandbox_state_path": None,
    }
    values.update(overrides)
    return Settings(**values)


class OffsetClock:
    """The real clock shifted by ``offset`` — to replay a genuine callback 301 s "later" or "earlier"."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


@contextmanager
def start_platform(tmp_path: Path, url: str, **overrides: Any) -> Iterator[PlatformUnderTest]:
    port = free_port()
    settings = settings_for_test(tmp_path, url, port, **overrides)
    upgrade(settings.database_url)
    clock = OffsetClock()
    runtime = Runtime.build(settings, clock)
    app = create_app(settings, runtime=runtime)
    with serve_in_thread(app, port=port) as base_url:
        admin = httpx.Client(base_url=base_url, timeout=60,
                             headers={"Authorization": f"Bearer {settings.admin_key}"})
        running = PlatformUnderTest(base_url=base_url, settings=settings, runtime=runtime, admin=admin,
                                    clock=clock)
        try:
            yield running
        finally:
            for client in [admin, *running.clients]:
                client.close()
    runtime.close()
