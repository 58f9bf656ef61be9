"""Request and response shapes of bank-transfer matching."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from indiepay.core.clock import StorableInstant
from indiepay.core.money import MAX_AMOUNT_FEN


class TransferConfirm(BaseModel):
    """The merchant saw the transfer on its account: which one, and how much arrived."""

    model_config = ConfigDict(extra="forbid")

    bank_txn_id: str = Field(min_length=1, max_length=64)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    booked_at: StorableInstant | None = None  # year 1 at +08:00 has no UTC
    payer_name: str | None = Field(default=None, max_length=100)
    memo: str | None = Field(default=None, max_length=200)


class StatementLineOut(BaseModel):
    id: str
    object: str = "bank_statement_line"
    livemode: bool
    channel_account_id: str
    bank_txn_id: str
    booked_at: datetime
    amount: int
    currency: str
    payer_name: str | None
    memo: str | None
    source: str
    status: str
    reason: str | None
    payment_id: str | None
    created_at: datetime


class StatementImportOut(BaseModel):
    """What one statement file did: each credit's line, and the counts."""

    channel_account_id: str
    credits: int
    matched: int
    unmatched: int
    already_imported: int
    lines: list[StatementLineOut]


class StatementLineList(BaseModel):
    object: str = "list"
    data: list[StatementLineOut]
    has_more: bool
