"""API shapes for payments."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from indiepay.channels.base import ChannelMethod
from indiepay.core.money import MAX_AMOUNT_FEN


class Payer(BaseModel):
    model_config = ConfigDict(extra="forbid")

    openid: str | None = Field(default=None, min_length=1, max_length=128)  # WeChat: the buyer's openid
    buyer_id: str | None = Field(default=None, min_length=1, max_length=64)  # Alipay: the buyer's user id
    client_ip: str | None = Field(default=None, min_length=3, max_length=45)


class PaymentCreate(BaseModel):
    """A new payment. Server-owned fields (status, merchant, account, fees) are rejected as unknown."""

    model_config = ConfigDict(extra="forbid")

    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    currency: Literal["CNY"]
    out_trade_no: str = Field(pattern=r"^[A-Za-z0-9_\-|*]{6,32}$")
    description: str = Field(min_length=1, max_length=127)
    method: ChannelMethod
    expires_in_seconds: StrictInt | None = Field(default=None, ge=60, le=7 * 24 * 3600)
    payer: Payer | None = None
    return_url: str | None = Field(default=None, max_length=500, pattern=r"^https?://")
    # open the order for profit sharing (indiepay.sharing): the channel holds the money until it is shared
    # or unfrozen; independent collection only
    profit_sharing: StrictBool = False


class PaymentOut(BaseModel):
    id: str
    object: Literal["payment"] = "payment"
    livemode: bool
    status: str
    amount: int
    refunded_amount: int
    currency: str
    out_trade_no: str
    description: str
    method: str
    channel: str
    channel_account_id: str
    channel_trade_no: str | None
    action: dict[str, Any] | None
    checkout_url: str
    late_payment: bool
    failure_code: str | None
    created_at: datetime
    expires_at: datetime
    paid_at: datetime | None
    closed_at: datetime | None
    purpose: str | None = None  # account_verification for an account's 0.01 test payment
    profit_sharing: bool = False
    shared_amount: int = 0  # held by shares (processing + succeeded, less returns): not refundable


class PaymentList(BaseModel):
    object: Literal["list"] = "list"
    data: list[PaymentOut]
    has_more: bool


class ReceiptRefundOut(BaseModel):
    id: str
    amount: int
    status: str
    at: datetime


class ReceiptOut(BaseModel):
    """A succeeded payment's e-receipt (see :mod:`indiepay.payments.receipts`); ``url`` is the buyer's page."""

    object: Literal["receipt"] = "receipt"
    payment_id: str
    livemode: bool
    url: str
    merchant_name: str
    merchant_short_name: str
    collected_by: Literal["merchant", "platform"]
    description: str
    method: str
    channel: str
    currency: str
    amount: int
    refunded_amount: int
    net_amount: int
    out_trade_no: str
    channel_trade_no: str | None
    paid_at: datetime
    refunds: list[ReceiptRefundOut]
