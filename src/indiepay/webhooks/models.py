"""Webhook endpoint, event and delivery-log tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"
    __table_args__ = (UniqueConstraint("merchant_id", "livemode", name="uq_webhook_endpoint_mode"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[dict[str, Any]]  # sealed by the vault
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Event(Base):
    """Something a merchant should hear about. ``dedupe_key`` makes emitting an event idempotent."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_merchant_created", "merchant_id", "livemode", "created_at", "id"),)  # lists

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    type: Mapped[str] = mapped_column(String(40))
    dedupe_key: Mapped[str] = mapped_column(String(120), unique=True)
    data: Mapped[dict[str, Any]]
    delivered: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class WebhookDelivery(Base):
    """One attempt to deliver an event."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_created_at", "created_at"),)  # housekeeping prunes by it

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("events.id"), index=True)
    url: Mapped[str] = mapped_column(String(500))
    attempt: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
