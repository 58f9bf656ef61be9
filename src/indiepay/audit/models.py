"""Audit tables: ``audit_events`` (append-only; triggers refuse UPDATE and DELETE) and the one-row
``audit_chain_head`` that appenders lock, which serialises them and gives gap-free sequences."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base

FAILED_AUTH = text("action = 'auth.failed'")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    # the failure limiter's count across processes (indiepay.audit.service.recent_auth_failures_over)
    __table_args__ = (
        Index("ix_audit_events_failed_origin", "origin", "occurred_at", sqlite_where=FAILED_AUTH,
              postgresql_where=FAILED_AUTH),
        Index("ix_audit_events_failed_actor", "actor", "occurred_at", sqlite_where=FAILED_AUTH,
              postgresql_where=FAILED_AUTH),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    occurred_at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(64))  # admin | merchant:<id> | key:<prefix> | system
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)  # whose event it is (tenancy)
    livemode: Mapped[bool | None]  # its mode: about live or test data, or (None) neither (see audit.modes)
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(64))  # client IP, or "cli"
    result: Mapped[str] = mapped_column(String(16))  # ok | refused
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditChainHead(Base):
    __tablename__ = "audit_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
