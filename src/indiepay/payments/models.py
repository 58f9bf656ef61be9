"""Payment and channel-call tables."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint, false, text
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base, copy_of


class Payment(Base):
    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("merchant_id", "livemode", "out_trade_no", name="uq_payments_out_trade_no"),
        # on SQLite also carries status, amount, channel_account_id, payer (migration 0017): admission's measure
        Index("ix_payments_merchant_created", "merchant_id", "livemode", "created_at", "id"),
        Index("ix_payments_status_next_query", "status", "next_query_at"),
        Index("ix_payments_account_channel_order", "channel_account_id", "channel_out_trade_no"),  # callbacks (0028)
        Index("ix_payments_account_created", "channel_account_id", "created_at"),  # an account's usage today
        Index("ix_payments_account_paid", "channel_account_id", "paid_at", "created_at"),  # a recon window (0015)
        Index("ix_payments_merchant_paid", "merchant_id", "livemode", "paid_at", "id",  # the export (0027)
              sqlite_where=text("paid_at IS NOT NULL"), postgresql_where=text("paid_at IS NOT NULL")),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    channel_account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    method: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    out_trade_no: Mapped[str] = mapped_column(String(64))  # the merchant's own number
    # the number the channel knows the order by (indiepay.payments.order_numbers): the merchant's own, or on the
    # platform's shared account one made from the id
    channel_out_trade_no: Mapped[str] = mapped_column(String(64), default=copy_of("out_trade_no"),
                                                      server_default="")
    description: Mapped[str] = mapped_column(String(127))
    status: Mapped[str] = mapped_column(String(16))
    collection_mode: Mapped[str] = mapped_column(String(16), server_default="independent")  # fixed at creation
    channel_fee_bps: Mapped[int] = mapped_column(Integer, default=60, server_default="60")  # rates fixed at creation
    platform_fee_bps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    channel_fee: Mapped[int | None] = mapped_column(BigInteger)  # what the channel's bill says it charged
    purpose: Mapped[str | None] = mapped_column(String(32))  # None: a sale; account_verification: a 0.01 test
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_reserved: Mapped[int] = mapped_column(BigInteger, default=0)  # processing + succeeded refunds
    # profit sharing (indiepay.sharing): opened for it at the channel; what shares hold (processing +
    # succeeded, less what came back by returns); no more sharing once the rest is (being) unfrozen
    # (database-side defaults only: a writer that does not know these columns, such as a migration test at an
    # older revision, inserts without them)
    profit_sharing: Mapped[bool] = mapped_column(server_default=false())
    shared_reserved: Mapped[int] = mapped_column(BigInteger, server_default="0")
    sharing_finished: Mapped[bool] = mapped_column(server_default=false())
    channel_trade_no: Mapped[str | None] = mapped_column(String(64))
    payer: Mapped[dict[str, Any]]
    action: Mapped[dict[str, Any] | None]
    return_url: Mapped[str | None] = mapped_column(String(500))
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    late_payment: Mapped[bool] = mapped_column(default=False)
    query_attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_query_at: Mapped[datetime | None]
    expires_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ChannelCall(Base):
    """Every request to a channel and its outcome (never a secret: ids, codes and timings only)."""

    __tablename__ = "channel_calls"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payments.id"), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(40))
    operation: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # ok | rejected | retryable | unknown
    channel_code: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
