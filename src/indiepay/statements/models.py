"""Stored monthly statements: the figures as issued, kept (never deleted) for at least five years."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class Statement(Base):
    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("merchant_id", "month", "currency", name="uq_statements_month"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Asia/Shanghai
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # draft (month still open) | final
    body: Mapped[dict[str, Any]]  # the figures, as served by the API
    body_sha256: Mapped[str] = mapped_column(String(64))
    generated_at: Mapped[datetime]
