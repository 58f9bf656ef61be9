"""The sandbox gateways are mounted by default (``make serve``) in the platform's own server, and anyone may
provision sandbox credentials and pay a sandbox order: a caller without any key opened an order whose
notify_url was an internal address and made the server POST there. Mounted, the gateways call back the
platform's own notify address only; standalone (``indiepay sandbox``, a developer's tool) anywhere."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import httpx
from tests.support.platform import PlatformUnderTest

from indiepay.channels.base import ChannelMethod, PrepayRequest
from indiepay.channels.wechatpay import build_adapter
from indiepay.core.clock import SystemClock
from indiepay.sandbox.http import callback_allowed


class _Internal(BaseHTTPRequestHandler):
    hits: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        _Internal.hits.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *a: object) -> None:
        pass


def test_a_mounted_gateway_calls_back_the_platform_only(platform: PlatformUnderTest) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Internal)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    anon = httpx.Client(timeout=30)  # no Authorization header at all
    try:
        base = f"{platform.base_url}/sandbox/wechatpay"
        creds = anon.post(f"{base}/_provision", json={"key_mode": "public_key"}).json()["credentials"]
        adapter = build_adapter(creds, base, anon, SystemClock())
        internal = f"http://127.0.0.1:{server.server_address[1]}/internal/only"
        result = adapter.prepay(PrepayRequest(
            method=ChannelMethod.WECHAT_NATIVE, out_trade_no="SSRF000001", amount=1, currency="CNY", description="x",
            notify_url=internal, expires_at=datetime.now(UTC) + timedelta(minutes=30)))
        anon.post(f"{base}/_buyer/pay", json={"code_url": result.code_url})
        for _ in range(40):
            if _Internal.hits:
                break
            time.sleep(0.05)
        assert not _Internal.hits, f"anonymous caller made the platform POST to {internal}: {_Internal.hits}"
    finally:
        anon.close()
        server.shutdown()


def test_the_rule() -> None:
    assert callback_allowed("http://any.where/x", None)
    assert callback_allowed("https://pay.example.com/notify/wechatpay/acct_1", "https://pay.example.com/notify/")
    assert not callback_allowed("http://127.0.0.1:9/internal", "https://pay.example.com/notify/")
    assert not callback_allowed("https://pay.example.com.evil.test/notify/", "https://pay.example.com/notify/")
