"""Refund table."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base, copy_of


class Refund(Base):
    __tablename__ = "refunds"
    __table_args__ = (UniqueConstraint("merchant_id", "livemode", "out_refund_no", name="uq_refunds_out_refund_no"),
                      Index("ix_refunds_channel_order", "channel_out_refund_no"),  # callbacks (0028)
                      Index("ix_refunds_created", "created_at"),  # a reconciliation window (migration 0015)
                      Index("ix_refunds_merchant_created", "merchant_id", "livemode", "created_at", "id"),  # lists
                      Index("ix_refunds_succeeded", "succeeded_at", "created_at"),
                      Index("ix_refunds_merchant_succeeded", "merchant_id", "livemode", "succeeded_at", "id",
                            sqlite_where=text("succeeded_at IS NOT NULL"),  # the transactions export (0027)
                            postgresql_where=text("succeeded_at IS NOT NULL")))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    out_refund_no: Mapped[str] = mapped_column(String(64))  # the merchant's own number
    channel_out_refund_no: Mapped[str] = mapped_column(String(64), default=copy_of("out_refund_no"),
                                                       server_default="")  # as the channel knows it
    reason: Mapped[str | None] = mapped_column(String(80))
    channel_refund_no: Mapped[str | None] = mapped_column(String(64))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    channel_fee_returned: Mapped[int | None] = mapped_column(BigInteger)  # per the bill (reconciliation)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    succeeded_at: Mapped[datetime | None]
