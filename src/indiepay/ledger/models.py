"""Ledger tables: accounts, immutable entries with their postings, and the head of the hash chain.

Rows in ``ledger_entries`` and ``ledger_postings`` are only ever inserted; corrections are new entries.
``ledger_chain_head`` holds one row (id 1): the last sequence and hash. Posting locks it, which serialises
appends on PostgreSQL so that sequences are gap-free and each entry chains onto the one before.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    code: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    merchant_id: Mapped[str | None] = mapped_column(String(40), index=True)
    channel: Mapped[str | None] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    created_at: Mapped[datetime]


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"
    __table_args__ = (Index("ix_ledger_entries_merchant_sequence", "merchant_id", "sequence"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    event_key: Mapped[str] = mapped_column(String(200), unique=True)
    event_type: Mapped[str] = mapped_column(String(32))
    merchant_id: Mapped[str | None] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(255))
    occurred_at: Mapped[datetime]
    created_at: Mapped[datetime]
    reverses_entry_id: Mapped[str | None] = mapped_column(ForeignKey("ledger_entries.id"))
    sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class LedgerPosting(Base):
    """One line of an entry; ``amount`` is signed fen, debit positive and credit negative."""

    __tablename__ = "ledger_postings"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("ledger_accounts.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)


class LedgerChainHead(Base):
    __tablename__ = "ledger_chain_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sequence: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))
