"""Channel account table. Credentials are sealed per field by the vault; nothing readable is stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class ChannelAccount(Base):
    __tablename__ = "channel_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)  # NULL: the platform's
    owner: Mapped[str] = mapped_column(String(16), default="merchant", server_default="merchant")  # merchant | platform
    channel: Mapped[str] = mapped_column(String(16))
    environment: Mapped[str] = mapped_column(String(16))  # sandbox | production
    role: Mapped[str] = mapped_column(String(16))  # primary | backup
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")  # share among its primaries
    status: Mapped[str] = mapped_column(String(16), default="active")
    base_url: Mapped[str] = mapped_column(String(500))
    credentials: Mapped[dict[str, Any]]  # field -> SealedSecret.as_dict()
    # what a rotation replaced: still accepted for callbacks until the new credentials are verified
    previous_credentials: Mapped[dict[str, Any] | None]
    previous_credentials_until: Mapped[datetime | None]
    fee_rate_bps: Mapped[int] = mapped_column(Integer, default=60, server_default="60")  # the channel's rate
    settlement_bank: Mapped[str | None] = mapped_column(String(64))
    daily_cap: Mapped[int | None] = mapped_column(BigInteger)  # fen per business day; None: no cap of its own
    credentials_expire_at: Mapped[datetime | None]  # earliest expiry of its keys/certificates, when known
    verified_at: Mapped[datetime | None]  # when a real 0.01 test payment went through it and was refunded
    created_at: Mapped[datetime]
    # when the credentials last changed (creation, rotation): a test payment older than this verifies nothing
    updated_at: Mapped[datetime]
