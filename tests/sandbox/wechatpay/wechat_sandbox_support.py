"""Helpers for the WeChat sandbox tests: a live loopback server with the sandbox mounted under
/sandbox/wechatpay (and /wechatpay) in a parent app, plus a small callback receiver that verifies
callbacks with the merchant's own adapter."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response
from tests.support.servers import serve_in_thread

from indiepay.channels.base import (
    ChannelMethod,
    IncomingNotification,
    Notification,
    NotificationRejected,
    PrepayRequest,
)
from indiepay.channels.wechatpay import WechatPayAdapter, build_adapter
from indiepay.core.clock import SystemClock
from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox


@dataclass
class Receiver:
    """Callbacks per mchid: accepted notifications and rejections."""

    adapters: dict[str, WechatPayAdapter] = field(default_factory=dict)
    accepted: dict[str, list[Notification]] = field(default_factory=dict)
    rejected: dict[str, list[str]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handle(self, mchid: str, headers: dict[str, str], body: bytes) -> Response:
        adapter = self.adapters[mchid]
        try:
            notification = adapter.parse_notification(IncomingNotification(headers=headers, body=body))
        except NotificationRejected as exc:
            with self.lock:
                self.rejected.setdefault(mchid, []).append(exc.channel_code or "")
            reply = adapter.notification_reply(False, exc.message)
        else:
            with self.lock:
                self.accepted.setdefault(mchid, []).append(notification)
            reply = adapter.notification_reply(True)
        return Response(reply.body, status_code=reply.status_code, media_type=reply.content_type)


@dataclass
class Sandbox:
    url: str
    base_url: str
    receiver: Receiver
    http: httpx.Client

    def provision(self, key_mode: str = "public_key", base_url: str | None = None,
                  timeout: float | None = None) -> tuple[dict[str, str], WechatPayAdapter]:
        response = self.http.post(f"{self.base_url}/_provision", json={"key_mode": key_mode})
        assert response.status_code == 201, response.text
        credentials: dict[str, str] = response.json()["credentials"]
        adapter = self.adapter(credentials, base_url=base_url, timeout=timeout)
        return credentials, adapter

    def adapter(self, credentials: dict[str, str], base_url: str | None = None,
                timeout: float | None = None) -> WechatPayAdapter:
        adapter = build_adapter(credentials, base_url or self.base_url, self.http, SystemClock(), timeout=timeout)
        self.receiver.adapters[credentials["mchid"]] = adapter
        return adapter

    def notify_url(self, mchid: str) -> str:
        return f"{self.url}/receiver/{mchid}"

    def faults(self, mchid: str, **knobs: Any) -> dict[str, Any]:
        response = self.http.post(f"{self.base_url}/_faults", json={"mchid": mchid, **knobs})
        assert response.status_code == 200, response.text
        data: dict[str, Any] = response.json()
        return data

    def accepted(self, mchid: str) -> list[Notification]:
        with self.receiver.lock:
            return list(self.receiver.accepted.get(mchid, []))

    def rejected(self, mchid: str) -> list[str]:
        with self.receiver.lock:
            return list(self.receiver.rejected.get(mchid, []))


def prepay_request(out_trade_no: str, notify_url: str, amount: int = 100,
                   method: ChannelMethod = ChannelMethod.WECHAT_NATIVE, **extra: Any) -> PrepayRequest:
    return PrepayRequest(method=method, out_trade_no=out_trade_no, amount=amount, currency="CNY",
                         description="沙箱测试商品", notify_url=notify_url,
                         expires_at=datetime.now(UTC) + timedelta(minutes=30), **extra)


def wait_for(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    receiver = Receiver()
    parent = FastAPI()
    gateway = create_wechatpay_sandbox(WechatSandboxConfig(time_factor=1000))
    parent.mount("/sandbox/wechatpay", gateway)
    parent.mount("/wechatpay", gateway)

    @parent.post("/receiver/{mchid}")
    async def receive(mchid: str, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        # the adapter is synchronous (it may fetch certificates over HTTP): keep it off the event loop
        return await run_in_threadpool(receiver.handle, mchid, headers, body)

    with serve_in_thread(parent) as url, httpx.Client(timeout=10) as http:
        yield Sandbox(url=url, base_url=f"{url}/sandbox/wechatpay", receiver=receiver, http=http)

