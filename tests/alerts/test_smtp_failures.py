"""E-mail alerts survive a mail server that is down or misconfigured: every SMTP failure is retried — for
two days — except a definitive refusal of the recipient itself. Real SMTP servers on loopback ports:
aiosmtpd answering what each case needs, and a raw socket for a refusal in the greeting."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from sqlalchemy import select

from indiepay.alerts import service
from indiepay.alerts.models import AlertDelivery
from indiepay.alerts.transports import AlertMessage, DeliveryError, EmailTransport
from indiepay.config import Settings
from indiepay.core.clock import FixedClock
from indiepay.runtime import Runtime
from tests.alerts.conftest import SmtpInbox, clock, make_runtime  # noqa: F401 -- fixtures
from tests.support.platform import settings_for_test
from tests.support.servers import free_port

ONCALL = "oncall@platform.example"


@dataclass
class MailServer(SmtpInbox):
    """An SMTP server that refuses at the stage ``refuse`` names (EHLO, MAIL, RCPT, DATA) with ``reply``,
    and refuses a login while ``accept_login`` is False."""

    refuse: str | None = None
    reply: str = ""
    accept_login: bool = True

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any, hostname: str,
                          responses: list[str]) -> list[str]:
        session.host_name = hostname
        return [self.reply] if self.refuse == "EHLO" else responses

    async def handle_HELO(self, server: Any, session: Any, envelope: Any, hostname: str) -> str:
        session.host_name = hostname
        return self.reply if self.refuse == "EHLO" else f"250 {server.hostname}"

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.refuse == "MAIL":
            return self.reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str,
                          options: list[str]) -> str:
        if self.refuse == "RCPT":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse == "DATA":
            return self.reply
        return await super().handle_DATA(server, session, envelope)

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=self.accept_login, handled=False)


@pytest.fixture
def mail_server() -> Iterator[MailServer]:
    server = MailServer("127.0.0.1", free_port())
    controller = Controller(server, hostname=server.host, port=server.port, authenticator=server.authenticate,
                            auth_require_tls=False)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def _settings(tmp_path: Path, port: int, **overrides: Any) -> Settings:
    return settings_for_test(tmp_path, f"sqlite:///{tmp_path / 'unused.sqlite'}", 0, smtp_host="127.0.0.1",
                             smtp_port=port, **overrides)


def _send(settings: Settings) -> None:
    message = AlertMessage(delivery_id="ald_1", alert_id="alrt_1", merchant_id=None, kind="bill_hash_mismatch",
                           severity="critical", message="ledger/bill mismatch", details={},
                           created_at="2026-01-01T00:00:00+00:00")
    EmailTransport(settings).send(ONCALL, message)


@pytest.mark.parametrize(("refuse", "reply"), [
    ("EHLO", "554 5.7.1 not accepting mail from your host"),
    ("MAIL", "553 5.7.1 Sender address rejected: not owned by user"),
    ("RCPT", "554 5.7.1 <oncall@platform.example>: Relay access denied"),
    ("RCPT", "550 relaying denied"),
    ("RCPT", "450 4.2.0 <oncall@platform.example>: Recipient address rejected: greylisted"),
    ("DATA", "554 5.6.0 message refused"),
], ids=["ehlo-5xx", "mail-from-5xx", "rcpt-relay-5.7.1", "rcpt-relay-text", "rcpt-4xx", "data-5xx"])
def test_refusals_of_the_server_or_of_our_configuration_are_retried(tmp_path: Path, mail_server: MailServer,
                                                                    refuse: str, reply: str) -> None:
    mail_server.refuse, mail_server.reply = refuse, reply
    with pytest.raises(DeliveryError) as failed:
        _send(_settings(tmp_path, mail_server.port))
    assert not failed.value.permanent
    assert reply.split(" ", 1)[0] in str(failed.value)


def test_a_refused_login_is_retried(tmp_path: Path, mail_server: MailServer) -> None:
    mail_server.accept_login = False
    with pytest.raises(DeliveryError, match="SMTP login refused: 535") as failed:
        _send(_settings(tmp_path, mail_server.port, smtp_username="alerts", smtp_password="not-the-password"))
    assert not failed.value.permanent


def test_a_recipient_that_does_not_exist_is_final(tmp_path: Path, mail_server: MailServer) -> None:
    mail_server.refuse, mail_server.reply = "RCPT", "550 5.1.1 <oncall@platform.example>: User unknown"
    with pytest.raises(DeliveryError) as failed:
        _send(_settings(tmp_path, mail_server.port))
    assert failed.value.permanent
    assert str(failed.value) == "recipient refused: 550 5.1.1 <o***@platform.example>: User unknown"  # masked


def test_a_server_refusing_at_its_greeting_or_not_listening_is_retried(tmp_path: Path) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def greet_and_refuse() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.sendall(b"554 5.3.2 service not available, closing\r\n")

    thread = threading.Thread(target=greet_and_refuse, daemon=True)
    thread.start()
    with pytest.raises(DeliveryError, match="554") as refused:
        _send(_settings(tmp_path, port))
    thread.join(10)
    listener.close()
    assert not refused.value.permanent
    with pytest.raises(DeliveryError) as down:
        _send(_settings(tmp_path, free_port()))
    assert not down.value.permanent


def _raise(runtime: Runtime) -> str:
    with runtime.ctx.db.transaction() as session:
        alert = service.raise_alert(session, runtime.ctx.clock, kind="bill_hash_mismatch", severity="critical",
                                    message="ledger/bill mismatch", dedupe_key="bill_hash_mismatch:1")
    return alert.id


def _delivery(runtime: Runtime, alert_id: str) -> AlertDelivery:
    with runtime.ctx.db.read() as session:
        return session.scalars(select(AlertDelivery).where(AlertDelivery.alert_id == alert_id)).one()


def test_an_alert_raised_while_our_login_is_refused_arrives_once_it_is_fixed(
        make_runtime: Any, mail_server: MailServer, clock: FixedClock) -> None:  # noqa: F811 -- fixtures
    mail_server.accept_login = False  # e.g. the mail password was rotated and the setting not yet
    runtime = make_runtime(smtp_host=mail_server.host, smtp_port=mail_server.port, smtp_username="alerts",
                           smtp_password="secret", operator_alert_emails=ONCALL)
    alert_id = _raise(runtime)
    for _ in range(3):
        runtime.worker.drain()
        clock.advance(timedelta(minutes=1))
    delivery = _delivery(runtime, alert_id)
    assert (delivery.status, delivery.attempts) == ("pending", 3)
    assert delivery.last_error is not None and delivery.last_error.startswith("SMTP login refused: 535")
    mail_server.accept_login = True
    clock.advance(timedelta(minutes=1))
    runtime.worker.drain()
    assert [m["X-IndiePay-Alert-Id"] for m in mail_server.to(ONCALL)] == [alert_id]
    assert (_delivery(runtime, alert_id).status, _delivery(runtime, alert_id).attempts) == ("sent", 4)


def test_an_alert_arrives_after_a_day_and_a_half_without_smtp_and_gives_up_only_after_two_days(
        make_runtime: Any, clock: FixedClock) -> None:  # noqa: F811 -- fixtures
    port = free_port()
    runtime = make_runtime(smtp_host="127.0.0.1", smtp_port=port, operator_alert_emails=ONCALL)
    down_for_good = make_runtime(smtp_host="127.0.0.1", smtp_port=free_port(), operator_alert_emails=ONCALL)
    alert_id, lost_id = _raise(runtime), _raise(down_for_good)
    first_attempt = clock.now()
    gave_up_at = None
    for _ in range(36):  # 36 h: nothing listens on either port
        for platform in (runtime, down_for_good):
            platform.worker.drain()
        clock.advance(timedelta(hours=1))
    assert _delivery(runtime, alert_id).status == "pending"
    inbox = SmtpInbox("127.0.0.1", port)
    controller = Controller(inbox, hostname=inbox.host, port=port)
    controller.start()
    try:
        for _ in range(30):  # on for the first platform; the other's tries run out
            runtime.worker.drain()
            down_for_good.worker.drain()
            if gave_up_at is None and _delivery(down_for_good, lost_id).status == "dead":
                gave_up_at = clock.now()
            clock.advance(timedelta(hours=1))
    finally:
        controller.stop()
    assert [m["X-IndiePay-Alert-Id"] for m in inbox.to(ONCALL)] == [alert_id]  # once, when SMTP came back
    assert _delivery(runtime, alert_id).status == "sent"
    lost = _delivery(down_for_good, lost_id)
    assert (lost.status, lost.attempts) == ("dead", service.DELIVERY_ATTEMPTS)
    assert gave_up_at is not None and gave_up_at - first_attempt >= service.DELIVERY_WINDOW
