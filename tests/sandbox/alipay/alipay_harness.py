"""A live Alipay sandbox (mounted under /sandbox/alipay) plus a merchant-side notify receiver, on loopback."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response

from indiepay.channels.alipay import build_adapter
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.channels.base import (
    ChannelMethod,
    IncomingNotification,
    Notification,
    NotificationRejected,
    PrepayRequest,
)
from indiepay.core.clock import SystemClock
from indiepay.sandbox.alipay import AlipaySandboxConfig, create_alipay_sandbox

MOUNT = "/sandbox/alipay"


@dataclass
class Receiver:
    """The merchant's notify endpoint: verifies with the adapter of the app named in the path."""

    adapters: dict[str, AlipayAdapter] = field(default_factory=dict)
    received: list[Notification] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    refuse_first: set[str] = field(default_factory=set)  # out_trade_no whose first notify gets "fail"
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.post("/notify/{app_id}")
        async def notify(app_id: str, request: Request) -> Response:
            adapter = self.adapters[app_id]
            incoming = IncomingNotification(headers={k.lower(): v for k, v in request.headers.items()},
                                            body=await request.body())
            try:
                notification = adapter.parse_notification(incoming)
            except NotificationRejected as exc:
                with self.lock:
                    self.rejected.append(exc.message)
                reply = adapter.notification_reply(False, exc.message)
            else:
                out_trade_no = str(notification.raw.get("out_trade_no"))
                with self.lock:
                    accept = out_trade_no not in self.refuse_first
                    self.refuse_first.discard(out_trade_no)
                    self.received.append(notification)
                reply = adapter.notification_reply(accept)
            return Response(reply.body, status_code=reply.status_code, media_type=reply.content_type)

        return api

    def wait_for(self, predicate: Callable[[Notification], bool], count: int = 1,
                 timeout: float = 10.0) -> list[Notification]:
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = [n for n in self.received if predicate(n)]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.02)


def sandbox_parent(config: AlipaySandboxConfig) -> FastAPI:
    """The platform-like parent app with the sandbox mounted below it."""
    parent = FastAPI()
    parent.mount(MOUNT, create_alipay_sandbox(config))
    return parent


@dataclass
class SandboxApp:
    """One provisioned sandbox app and the adapter the merchant would build from its credentials."""

    base: str
    credentials: dict[str, str]
    adapter: AlipayAdapter
    notify_url: str
    http: httpx.Client

    @property
    def app_id(self) -> str:
        return self.credentials["app_id"]

    @property
    def gateway_url(self) -> str:
        return self.base + "/gateway.do"

    def prepay(self, out_trade_no: str, amount: int, method: ChannelMethod = ChannelMethod.ALIPAY_QR,
               return_url: str | None = None) -> PrepayRequest:
        return PrepayRequest(method=method, out_trade_no=out_trade_no, amount=amount, currency="CNY",
                             description=f"订单 {out_trade_no} <b>&</b>", notify_url=self.notify_url,
                             expires_at=datetime.now(UTC) + timedelta(minutes=30), return_url=return_url)

    def order(self, out_trade_no: str) -> dict[str, object]:
        reply = self.http.get(f"{self.base}/_orders/{self.app_id}/{out_trade_no}")
        reply.raise_for_status()
        result: dict[str, object] = reply.json()
        return result

    def delivered_notify(self, out_trade_no: str, index: int = 0, timeout: float = 10.0) -> dict[str, Any]:
        """Wait until the sandbox has recorded notify ``index`` of the order as delivered; return it."""
        deadline = time.monotonic() + timeout
        while True:
            notifies: list[dict[str, Any]] = self.order(out_trade_no)["notifies"]  # type: ignore[assignment]
            if len(notifies) > index and notifies[index]["delivered"]:
                return notifies[index]
            assert time.monotonic() < deadline, notifies
            time.sleep(0.05)

    def faults(self, **knobs: object) -> dict[str, object]:
        reply = self.http.post(self.base + "/_faults", json={"app_id": self.app_id, **knobs})
        reply.raise_for_status()
        result: dict[str, object] = reply.json()
        return result


def provision(base: str, receiver_base: str, receiver: Receiver, timeout: float = 5.0) -> SandboxApp:
    http = httpx.Client(timeout=timeout)
    reply = http.post(base + "/_provision", json={})
    assert reply.status_code == 201, reply.text
    credentials = reply.json()["credentials"]
    adapter = build_adapter(credentials, base + "/gateway.do", http, SystemClock())
    receiver.adapters[credentials["app_id"]] = adapter
    return SandboxApp(base=base, credentials=credentials, adapter=adapter,
                      notify_url=f"{receiver_base}/notify/{credentials['app_id']}", http=http)
