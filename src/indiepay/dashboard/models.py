"""The dashboard's sign-in sessions (see the package docstring)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class DashboardSession(Base):
    __tablename__ = "dashboard_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the cookie's token
    key_hash: Mapped[str] = mapped_column(String(64))  # SHA-256 of the API key signed in with
    actor: Mapped[str] = mapped_column(String(64))  # admin | merchant:<id>, for the audit trail
    csrf_token: Mapped[str] = mapped_column(String(64))
    origin: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
