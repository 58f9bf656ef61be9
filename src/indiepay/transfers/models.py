"""One table: every incoming transfer a merchant's bank account showed (statement import or confirmation)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class StatementLine(Base):
    """A credit on the receiving account, kept whether or not it matched a payment: money that arrived
    without a match is exactly what must not be lost. ``bank_txn_id`` (the bank's own transaction number)
    is unique per account, so importing a statement twice, or overlapping ones, records each transfer
    once. ``status`` is ``matched`` (``payment_id`` set) or ``unmatched`` (``reason`` says why:
    ``no_reference``, ``unknown_reference``, ``ambiguous_reference``, ``amount_mismatch``,
    ``already_paid``); an unmatched line can be matched later by confirming its payment."""

    __tablename__ = "bank_statement_lines"
    __table_args__ = (UniqueConstraint("channel_account_id", "bank_txn_id", name="uq_bank_statement_lines_txn"),
                      Index("ix_bank_statement_lines_merchant", "merchant_id", "livemode", "status", "booked_at"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    merchant_id: Mapped[str] = mapped_column(ForeignKey("merchants.id"))
    livemode: Mapped[bool]
    channel_account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    bank_txn_id: Mapped[str] = mapped_column(String(64))
    booked_at: Mapped[datetime]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payer_name: Mapped[str | None] = mapped_column(String(100))
    memo: Mapped[str | None] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # statement | confirmation
    status: Mapped[str] = mapped_column(String(16))  # matched | unmatched
    reason: Mapped[str | None] = mapped_column(String(32))
    payment_id: Mapped[str | None] = mapped_column(ForeignKey("payments.id"))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
