"""Channel account table. Credentials are sealed per field by the vault; nothing readable is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class ChannelAccount(Base):
    __tablename__ = "channel_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str] = mapped_column(String(16))  # sandbox | production
    role: Mapped[str] = mapped_column(String(16))  # primary | backup
    status: Mapped[str] = mapped_column(String(16), default="active")
    base_url: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[dict[str, Any]]  # field -> SealedSecret.as_dict()
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
