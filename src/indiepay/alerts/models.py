"""Alert tables: the alerts themselves, where a merchant wants them sent, and each delivery.

``alert_rate_windows`` holds the rate limiter's counters in the database (not in memory) so that every
server and worker process shares them. ``sandbox_sms_messages`` is the outbox of the sandbox SMS provider:
what a real provider would have texted, kept where tests and operators can read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class Alert(Base):
    """One incident someone should act on. ``dedupe_key`` makes raising the same incident again a no-op.

    ``delivery_state`` says what the dispatcher decided: ``pending`` (not yet looked at), ``dispatched``
    (deliveries created), ``suppressed`` (over the rate limit: stored, not sent), ``no_channels``
    (nobody configured to hear it). NULL for alerts raised before delivery existed.
    """

    __tablename__ = "alerts"
    __table_args__ = (Index("ix_alerts_created_at", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    livemode: Mapped[bool | None]  # about real money, about test data, or (None) about neither
    kind: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime]
    delivery_state: Mapped[str | None] = mapped_column(String(16))
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(64))


class AlertChannels(Base):
    """Where one merchant's alerts go. One row per merchant; ``PUT /v1/alert_channels`` replaces it.

    ``webhook_secret`` is sealed by the vault (listed in ``vault.repository.SEALED_COLUMNS``).
    """

    __tablename__ = "alert_channels"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), unique=True)
    webhook_url: Mapped[str | None] = mapped_column(String(500))
    webhook_enabled: Mapped[bool]
    webhook_secret: Mapped[dict[str, Any]]
    emails: Mapped[list[str]] = mapped_column(JSON)
    email_enabled: Mapped[bool]
    phones: Mapped[list[str]] = mapped_column(JSON)
    sms_enabled: Mapped[bool]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertDelivery(Base):
    """One alert to one target on one channel. ``status``: pending → sending → sent | pending (retry) |
    dead (every attempt failed) | failed (cannot succeed: channel not configured, recipient refused)."""

    __tablename__ = "alert_deliveries"
    __table_args__ = (UniqueConstraint("alert_id", "channel", "target", name="uq_alert_delivery_target"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    alert_id: Mapped[str] = mapped_column(ForeignKey("alerts.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))  # webhook | email | sms
    target: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    claimed_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class AlertRateWindow(Base):
    """How many alerts of one kind for one merchant (``operator`` for platform alerts) were delivered in
    the fixed window starting at ``window_start``. Taking a slot is one conditional UPDATE."""

    __tablename__ = "alert_rate_windows"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    window_start: Mapped[datetime]
    count: Mapped[int] = mapped_column(Integer)


class SandboxSmsMessage(Base):
    """A text the sandbox SMS provider "sent" (nothing leaves the machine)."""

    __tablename__ = "sandbox_sms_messages"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    to: Mapped[str] = mapped_column(String(32), index=True)
    body: Mapped[str] = mapped_column(Text)
    reference: Mapped[str] = mapped_column(String(40), unique=True)  # the delivery id: one text per delivery
    created_at: Mapped[datetime]
