"""Merchant and API key tables."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, false
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class Merchant(Base):
    __tablename__ = "merchants"
    __table_args__ = (Index("ix_merchants_created", "created_at", "id"),)  # the operator's list

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    short_name: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(16))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | suspended (kill switch)
    collection_mode: Mapped[str] = mapped_column(String(16), default="independent")  # independent | platform
    platform_fee_bps: Mapped[int] = mapped_column(Integer, default=40, server_default="40")  # platform collection
    tech_fee_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # independent collection
    kyc_status: Mapped[str] = mapped_column(String(16), default="pending", server_default="pending")
    single_limit: Mapped[int | None] = mapped_column(BigInteger)  # fen; None: the subject type's default
    daily_limit: Mapped[int | None] = mapped_column(BigInteger)  # fen per Beijing business day
    created_at: Mapped[datetime]


class CollectionModeChange(Base):
    """One switch of a merchant's collection mode: the history is kept, never edited."""

    __tablename__ = "collection_mode_changes"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    from_mode: Mapped[str] = mapped_column(String(16))
    to_mode: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(64))  # "admin" or the merchant's key id
    created_at: Mapped[datetime]


class ApiKey(Base):
    """A hashed API key. ``merchant_id`` is NULL for the operator's admin key."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str | None] = mapped_column(ForeignKey("merchants.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # admin | merchant
    livemode: Mapped[bool]
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]  # a rolled key keeps working until then
    read_only: Mapped[bool] = mapped_column(default=False, server_default=false())  # GET only
