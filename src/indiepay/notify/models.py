"""The log of every callback received, which also dedupes by the channel's notification id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class ReceivedNotification(Base):
    __tablename__ = "received_notifications"
    __table_args__ = (UniqueConstraint("account_id", "notification_id", name="uq_notification_once"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    notification_id: Mapped[str] = mapped_column(String(128))
    event_type: Mapped[str] = mapped_column(String(64))
    result: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]


class RejectedNotification(Base):
    """A callback that failed verification or checks: kept for the security review, changes nothing."""

    __tablename__ = "rejected_notifications"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(String(64))
    detail: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
