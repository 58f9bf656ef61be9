"""Fixtures for alert delivery: a real SMTP server (aiosmtpd) and a real webhook receiver on loopback
ports, and a platform runtime (no HTTP server, worker driven by hand) whose settings point at them."""

from __future__ import annotations

import email
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from indiepay.cli.demo import WebhookInbox
from indiepay.core.clock import FixedClock
from indiepay.core.ids import new_id
from indiepay.db.migrate import upgrade
from indiepay.merchants.models import Merchant
from indiepay.runtime import Runtime
from tests.support.platform import settings_for_test
from tests.support.servers import free_port
from tests.support.webhooks import webhook_inbox


@dataclass
class SmtpInbox:
    """What the local SMTP server received: one entry per (message, recipient)."""

    host: str
    port: int
    messages: list[tuple[str, Message]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.original_content or envelope.content)
        with self._lock:
            self.messages += [(rcpt, message) for rcpt in envelope.rcpt_tos]
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[Message]:
        with self._lock:
            return [m for rcpt, m in self.messages if rcpt == address]


@pytest.fixture
def smtp() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox("127.0.0.1", free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def inbox() -> Iterator[tuple[WebhookInbox, str]]:
    with webhook_inbox() as running:
        yield running


@pytest.fixture
def clock() -> FixedClock:
    """Real time, standing still: receivers check signatures against their own clock (±300 s)."""
    return FixedClock(datetime.now(UTC))


@pytest.fixture
def make_runtime(tmp_path: Path, clock: FixedClock) -> Iterator[Any]:
    """``make_runtime(**settings)``: a migrated SQLite platform with the worker driven by ``drain()``."""
    made: list[Runtime] = []

    def make(**overrides: Any) -> Runtime:
        url = f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}"
        upgrade(url)
        # the receivers are local servers: live webhooks may reach private addresses here (a closed network)
        overrides = {"outbound_private_targets": "all", **overrides}
        runtime = Runtime.build(settings_for_test(tmp_path, url, 0, run_worker=False, mount_sandbox=False,
                                                  **overrides), clock)
        made.append(runtime)
        return runtime

    yield make
    for runtime in made:
        runtime.close()


def add_merchant(runtime: Runtime) -> str:
    merchant_id = new_id("mch")
    with runtime.ctx.db.transaction() as session:
        session.add(Merchant(id=merchant_id, name="Tea Shop Ltd.", short_name="Tea Shop", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="platform", platform_fee_bps=30,
                             tech_fee_bps=30, kyc_status="approved", created_at=runtime.ctx.clock.now()))
    return merchant_id
