"""Profit-sharing tables: receivers, sharing orders with one line per receiver, and returns."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class SharingReceiver(Base):
    """A distributor (or partner, store…) declared to one channel account. ``name_hint`` keeps only the
    last character of the legal name the channel was given: enough to tell receivers apart on a screen."""

    __tablename__ = "sharing_receivers"
    __table_args__ = (UniqueConstraint("channel_account_id", "type", "account", name="uq_sharing_receivers_account"),
                      Index("ix_sharing_receivers_merchant", "merchant_id", "livemode", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    channel_account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(24))
    account: Mapped[str] = mapped_column(String(128))
    relation: Mapped[str] = mapped_column(String(32))
    name_hint: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # active | removed
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class SharingOrder(Base):
    """One request to share a payment (and/or unfreeze what is left: ``finish``). ``out_order_no`` is fixed
    before the channel is called and re-sent on every retry, so the channel carries it out once."""

    __tablename__ = "sharing_orders"
    __table_args__ = (UniqueConstraint("merchant_id", "livemode", "out_order_no",
                                       name="uq_sharing_orders_out_order_no"),
                      Index("ix_sharing_orders_merchant", "merchant_id", "livemode", "created_at", "id"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    channel_account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    out_order_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)  # the shares asked for (the unfrozen rest not included)
    finish: Mapped[bool]
    status: Mapped[str] = mapped_column(String(16))  # processing | finished | failed
    unfrozen_amount: Mapped[int | None] = mapped_column(BigInteger)
    channel_order_id: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class SharingLine(Base):
    """One receiver's share in an order: pending → succeeded | closed (the money stayed with the merchant)."""

    __tablename__ = "sharing_lines"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("sharing_orders.id"), index=True)
    receiver_id: Mapped[str] = mapped_column(ForeignKey("sharing_receivers.id"))
    position: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(80))
    result: Mapped[str] = mapped_column(String(16))  # pending | succeeded | closed
    fail_reason: Mapped[str | None] = mapped_column(String(64))
    detail_id: Mapped[str | None] = mapped_column(String(64))
    returned_amount: Mapped[int] = mapped_column(BigInteger, default=0)  # succeeded returns
    return_reserved: Mapped[int] = mapped_column(BigInteger, default=0)  # processing + succeeded returns
    created_at: Mapped[datetime]  # the order's: dates the line into the order's archive month
    finished_at: Mapped[datetime | None]


class SharingReturn(Base):
    """Taking (part of) a share back from a merchant receiver (WeChat 分账回退)."""

    __tablename__ = "sharing_returns"
    __table_args__ = (UniqueConstraint("merchant_id", "livemode", "out_return_no",
                                       name="uq_sharing_returns_out_return_no"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    order_id: Mapped[str] = mapped_column(ForeignKey("sharing_orders.id"), index=True)
    line_id: Mapped[str] = mapped_column(ForeignKey("sharing_lines.id"))
    out_return_no: Mapped[str] = mapped_column(String(64))
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # processing | succeeded | failed
    channel_return_id: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
