"""API shapes for refunds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from indiepay.core.clock import StorableInstant
from indiepay.core.money import MAX_AMOUNT_FEN


class RefundCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=40)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    reason: str | None = Field(default=None, max_length=80)
    out_refund_no: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_\-|*@]{6,64}$")


class RefundOut(BaseModel):
    id: str
    object: Literal["refund"] = "refund"
    livemode: bool
    payment_id: str
    amount: int
    currency: str
    status: str
    out_refund_no: str
    reason: str | None
    channel_refund_no: str | None
    failure_code: str | None
    created_at: datetime
    succeeded_at: datetime | None


class RefundList(BaseModel):
    object: Literal["list"] = "list"
    data: list[RefundOut]
    has_more: bool


class ManualRefundConfirm(BaseModel):
    """The merchant sent a by-hand refund's money back: the bank's number of that transfer, and when."""

    model_config = ConfigDict(extra="forbid")

    bank_txn_id: str = Field(min_length=1, max_length=64)
    booked_at: StorableInstant | None = None  # year 1 at +08:00 has no UTC
