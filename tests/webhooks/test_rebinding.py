"""DNS rebinding: an endpoint that may only reach public addresses is checked when the connection is made,
not only a moment before — a name that answers a public address to the check and a private one to the
connection reaches nothing, the connection goes to the very address that was checked, and a pooled
connection opened without the check never carries such an exchange."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from indiepay.core import outbound
from indiepay.webhooks.deadline import DeadlineTransport, post_within
from indiepay.webhooks.models import WebhookDelivery
from tests.alerts.conftest import add_merchant, clock, make_runtime  # noqa: F401 -- fixtures
from tests.support.webhooks import event_for


class _Receiver(ThreadingHTTPServer):
    hosts: list[str]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keeps the connection open: the client pools it

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        assert isinstance(self.server, _Receiver)
        self.server.hosts.append(self.headers.get("Host", ""))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: Any) -> None:
        return None


@contextmanager
def _receiver(address: str) -> Iterator[_Receiver]:
    server = _Receiver((address, 0), _Handler)
    server.hosts = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(transport=DeadlineTransport()) as client:
        yield client


def _resolving(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> None:
    monkeypatch.setattr(outbound, "resolve", lambda host: answers[host])


def test_a_name_that_resolves_to_a_private_address_when_connecting_reaches_nothing(
        http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with _receiver("127.0.0.1") as receiver:
        _resolving(monkeypatch, {"rebind.example": ["127.0.0.1"]})
        url = f"http://rebind.example:{receiver.server_port}/hook"
        with pytest.raises(httpx.ConnectError, match=r"rebind\.example resolves to an address that is not public "
                                                     r"\(127\.0\.0\.1\)"):
            post_within(http, url, content=b"{}", headers={}, budget=5, public_only=True)
        assert receiver.hosts == []


def test_the_connection_goes_to_the_address_that_was_checked(http: httpx.Client,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(outbound, "is_public", lambda address: address == "127.0.0.2")  # "public" here
    with _receiver("127.0.0.2") as receiver:
        _resolving(monkeypatch, {"pinned.example": ["127.0.0.2"]})
        url = f"http://pinned.example:{receiver.server_port}/hook"
        answer = post_within(http, url, content=b"{}", headers={}, budget=5, public_only=True)
        assert answer.status_code == 200
        assert receiver.hosts == [f"pinned.example:{receiver.server_port}"]  # the name, not the address


def test_a_pooled_connection_opened_without_the_check_does_not_carry_a_checked_exchange(
        http: httpx.Client, monkeypatch: pytest.MonkeyPatch) -> None:
    with _receiver("127.0.0.1") as receiver:
        url = f"http://localhost:{receiver.server_port}/hook"
        assert post_within(http, url, content=b"{}", headers={}, budget=5).status_code == 200  # pooled
        monkeypatch.setattr(outbound, "is_public", lambda address: True)
        _resolving(monkeypatch, {"localhost": ["127.0.0.1"]})
        with pytest.raises(httpx.ConnectError, match="pooled connection"):
            post_within(http, url, content=b"{}", headers={}, budget=5, public_only=True)
        assert len(receiver.hosts) == 1  # not a byte of it was sent
        assert post_within(http, url, content=b"{}", headers={}, budget=5, public_only=True).status_code == 200
        assert len(receiver.hosts) == 2  # on a connection of its own, to the address checked


def test_a_merchant_webhook_rebound_after_its_check_fails_the_attempt(make_runtime: Any,  # noqa: F811 -- fixture
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = make_runtime(outbound_private_targets="none")
    merchant_id = add_merchant(runtime)
    with _receiver("127.0.0.1") as receiver:
        url = f"http://rebind.example:{receiver.server_port}/hook"
        answers = {"rebind.example": ["93.184.216.34"]}  # public when the merchant sets it
        monkeypatch.setattr(outbound, "resolve", lambda host: answers[host])
        event = event_for(runtime, merchant_id, url, livemode=False)
        calls = {"n": 0}

        def rebinding(host: str) -> list[str]:  # the check before the attempt, then the connection
            calls["n"] += 1
            return ["93.184.216.34"] if calls["n"] == 1 else ["127.0.0.1"]

        monkeypatch.setattr(outbound, "resolve", rebinding)
        monkeypatch.setattr(outbound, "refusal", _refusal_through(rebinding))
        assert runtime.worker.drain() == 1
        assert receiver.hosts == []
    with runtime.ctx.db.read() as session:
        [attempt] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.event_id == event.id))
    assert attempt.status_code is None and attempt.error is not None
    assert attempt.error == "ConnectError: rebind.example resolves to an address that is not public (127.0.0.1)"


def _refusal_through(resolver: Any) -> Any:
    checked = outbound.refusal

    def refusal(url: str, *, livemode: bool, private_ok: bool) -> str | None:
        return checked(url, livemode=livemode, private_ok=private_ok, resolver=resolver)

    return refusal
