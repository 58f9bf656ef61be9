"""Settlement batches (one per merchant, business day and currency) and their payouts.

A batch is never edited once written except for its payout's state; both tables are financial records
and are never deleted.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class Settlement(Base):
    __tablename__ = "settlements"
    __table_args__ = (UniqueConstraint("merchant_id", "business_date", "currency", name="uq_settlements_day"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    business_date: Mapped[str] = mapped_column(String(10), index=True)  # YYYY-MM-DD, Asia/Shanghai
    currency: Mapped[str] = mapped_column(String(3))
    payments_amount: Mapped[int] = mapped_column(BigInteger)
    refunds_amount: Mapped[int] = mapped_column(BigInteger)
    platform_fee: Mapped[int] = mapped_column(BigInteger)
    channel_fee: Mapped[int] = mapped_column(BigInteger)
    other_amount: Mapped[int] = mapped_column(BigInteger)  # returned payouts, corrections, tech fees
    carried_in: Mapped[int] = mapped_column(BigInteger)  # balance owed before the day (negative: merchant owes)
    net_amount: Mapped[int] = mapped_column(BigInteger)  # carried_in + the day's movements
    payout_amount: Mapped[int] = mapped_column(BigInteger)  # max(net, 0)
    carried_forward: Mapped[int] = mapped_column(BigInteger)  # min(net, 0)
    status: Mapped[str] = mapped_column(String(16))  # settled | nothing_to_pay
    ledger_entry_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime]


class Payout(Base):
    __tablename__ = "payouts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    settlement_id: Mapped[str] = mapped_column(ForeignKey("settlements.id"), unique=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | paid | failed
    reference: Mapped[str | None] = mapped_column(String(64))  # the payout provider's id
    failure_code: Mapped[str | None] = mapped_column(String(64))
    failure_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
