"""Reconciliation tables: the stored bills, one run per account and day, and the differences it found.

Bills are kept (gzip-compressed, with the SHA1 of the uncompressed file) because a day's reconciliation is
re-run — by hand, when a neighbouring day's bill arrives, after the grace window — and because a bill is
the evidence behind a difference. Runs and differences have deterministic ids (see
:mod:`indiepay.reconciliation.rules`) so that re-running a day updates them in place and a difference
keeps the resolution a person gave it. A WeChat Pay day also has a fund-flow bill (kind ``fundflow``),
checked against the trade bill's totals; the outcome is the run's ``fundflow`` (:mod:`.fundflow`). The
channel fees a run found wait in ``reconciliation_fees`` for the fee job (:mod:`indiepay.reconciliation.fees`),
which writes them back outside the run's transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from indiepay.db.base import Base


class ReconciliationBill(Base):
    """A channel's daily bill as received (fetched, uploaded or imported), one per account, day and kind."""

    __tablename__ = "reconciliation_bills"
    __table_args__ = (UniqueConstraint("account_id", "business_date", "kind", name="uq_reconciliation_bills_day"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    business_date: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, Asia/Shanghai
    channel: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))  # trade | fundflow (WeChat Pay's BASIC account)
    sha1: Mapped[str] = mapped_column(String(40))  # of the uncompressed file
    size: Mapped[int] = mapped_column(BigInteger)
    content_gz: Mapped[bytes] = mapped_column(LargeBinary)
    source: Mapped[str] = mapped_column(String(16))  # fetch | upload | import
    # a fund-flow bill's bookings added up when stored (fundflow.FlowTally.as_record); None: read the bill
    tally: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReconciliationRun(Base):
    """The latest reconciliation of one account's business day, with its figures (amounts in fen)."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (UniqueConstraint("account_id", "business_date", name="uq_reconciliation_runs_day"),
                      Index("ix_reconciliation_runs_date", "business_date"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str] = mapped_column(ForeignKey("channel_accounts.id"))
    business_date: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(16))
    bill_sha1: Mapped[str] = mapped_column(String(40))
    rule_version: Mapped[str] = mapped_column(String(32))
    bill_rows: Mapped[int] = mapped_column(Integer)
    local_rows: Mapped[int] = mapped_column(Integer)
    matched_count: Mapped[int] = mapped_column(Integer)
    matched_amount: Mapped[int] = mapped_column(BigInteger)  # payments minus refunds, as the bill shows them
    bill_amount: Mapped[int] = mapped_column(BigInteger)  # payments minus refunds over every bill row
    local_amount: Mapped[int] = mapped_column(BigInteger)  # succeeded payments minus refunds of the day, here
    bill_fee: Mapped[int] = mapped_column(BigInteger)  # the bill's fees (charged minus returned)
    booked_fee: Mapped[int] = mapped_column(BigInteger)  # what we booked for the matched payments
    fee_corrections: Mapped[int] = mapped_column(Integer)  # payments whose ledger fee was corrected
    open_differences: Mapped[int] = mapped_column(Integer)
    counts: Mapped[dict[str, Any]]  # difference class -> count found by this run
    status: Mapped[str] = mapped_column(String(16))  # balanced | differences
    fundflow: Mapped[dict[str, Any] | None]  # WeChat Pay: the fund-flow check (.fundflow); None for Alipay
    executions: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class ReconciliationFees(Base):
    """The channel fees one execution of a run found for its matched payments, and how far the fee job got.

    One row per run, replaced by each execution (``generation`` = the run's ``executions`` then). The fees
    themselves are one Parquet file (``payment_id, fee, write, fix, merchant_id, mode, currency, booked``,
    ordered by payment id) kept in ``content`` until they are all applied; ``applied_through`` is the last
    payment id applied, committed with each batch, so a crashed job resumes after it.
    """

    __tablename__ = "reconciliation_fees"

    run_id: Mapped[str] = mapped_column(ForeignKey("reconciliation_runs.id"), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    fee_count: Mapped[int] = mapped_column(Integer)  # payments in the set
    applied_count: Mapped[int] = mapped_column(Integer)
    applied_through: Mapped[str | None] = mapped_column(String(40))
    corrections: Mapped[int] = mapped_column(Integer)  # ledger fee corrections posted by the job
    batches: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # dropped once every fee is applied
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    applied_at: Mapped[datetime | None]


class ReconciliationDifference(Base):
    """One difference between a bill and our records; open until a person resolves or ignores it (or a
    later run no longer finds it)."""

    __tablename__ = "reconciliation_differences"
    __table_args__ = (Index("ix_reconciliation_differences_day", "account_id", "business_date", "status"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("reconciliation_runs.id"), index=True)
    account_id: Mapped[str] = mapped_column(String(40))
    business_date: Mapped[str] = mapped_column(String(10))
    klass: Mapped[str] = mapped_column("class", String(32))
    kind: Mapped[str] = mapped_column(String(16))  # payment | refund
    out_trade_no: Mapped[str] = mapped_column(String(64))
    out_refund_no: Mapped[str | None] = mapped_column(String(64))
    payment_id: Mapped[str | None] = mapped_column(String(40))
    refund_id: Mapped[str | None] = mapped_column(String(40))
    local_status: Mapped[str | None] = mapped_column(String(16))
    local_amount: Mapped[int | None] = mapped_column(BigInteger)
    channel_amount: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(16))  # open | resolved | ignored
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    resolved_at: Mapped[datetime | None]
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
