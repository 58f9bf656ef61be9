"""The SMS port and its sandbox adapter.

Real SMS gateways (Aliyun SMS, Tencent Cloud SMS, Twilio ...) each need an account, templates approved in
advance and per-vendor signing; the dispatcher only needs "send this text to this number, once". So the
port is :class:`SmsProvider` and an adapter per vendor implements it. :class:`SandboxSmsProvider` sends
nothing: it records each message in ``sandbox_sms_messages`` (keyed by the delivery, so a retried delivery
is recorded once) for tests and for operators trying the platform out.
"""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import Table, select

from indiepay.alerts.models import SandboxSmsMessage
from indiepay.core.clock import Clock
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.db.upsert import insert_once

SMS_MESSAGES: Table = SandboxSmsMessage.__table__  # type: ignore[assignment]


class SmsError(Exception):
    """A text could not be sent. ``permanent`` ones (no provider, number refused) are never retried."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class SmsProvider(Protocol):
    """Sends one text. ``reference`` identifies the delivery so a provider that supports client
    references can deduplicate a retry. Raises :class:`SmsError`."""

    def send(self, to: str, body: str, reference: str) -> None: ...


class SandboxSmsProvider:
    """Records texts instead of sending them (idempotent per ``reference``)."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def send(self, to: str, body: str, reference: str) -> None:
        with self.db.transaction() as session:
            insert_once(session, SMS_MESSAGES, {"id": new_id("sms"), "to": to, "body": body,
                                                "reference": reference, "created_at": self.clock.now()},
                        ["reference"])

    def messages(self, to: str | None = None) -> list[SandboxSmsMessage]:
        """What was "sent", oldest first (optionally to one number)."""
        with self.db.read() as session:
            query = select(SandboxSmsMessage).order_by(SandboxSmsMessage.created_at, SandboxSmsMessage.id)
            if to is not None:
                query = query.where(SandboxSmsMessage.to == to)
            rows = list(session.scalars(query))
            session.expunge_all()
            return rows


class UnconfiguredSmsProvider:
    """No provider: every text fails permanently with the reason, instead of being retried for hours."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def send(self, to: str, body: str, reference: str) -> None:
        raise SmsError(self.reason, permanent=True)


def provider_for(name: str, db: Database, clock: Clock) -> SmsProvider:
    """The provider ``INDIEPAY_SMS_PROVIDER`` names (``sandbox`` | ``none``)."""
    if name == "sandbox":
        return SandboxSmsProvider(db, clock)
    if name == "none":
        return UnconfiguredSmsProvider("SMS is not configured (INDIEPAY_SMS_PROVIDER=none)")
    return UnconfiguredSmsProvider(f"unknown SMS provider {name!r} (INDIEPAY_SMS_PROVIDER)")
