"""API shapes for profit sharing."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from indiepay.channels.sharing import ReceiverType
from indiepay.core.money import MAX_AMOUNT_FEN

OUT_NO = r"^[A-Za-z0-9_]{6,64}$"  # what both channels accept (Alipay allows no other punctuation)


class ReceiverCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel_account_id: str = Field(min_length=1, max_length=40)
    type: ReceiverType
    account: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, min_length=1, max_length=128)
    relation: Literal["distributor", "partner", "store", "staff", "store_owner", "headquarter", "brand", "user",
                      "supplier"] = "distributor"
    description: str | None = Field(default=None, max_length=80)


class ReceiverOut(BaseModel):
    id: str
    object: Literal["sharing_receiver"] = "sharing_receiver"
    livemode: bool
    channel_account_id: str
    channel: str
    type: str
    account: str
    name_hint: str | None
    relation: str
    description: str | None
    status: str
    created_at: datetime


class ReceiverList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ReceiverOut]
    has_more: bool


class ShareLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    receiver_id: str = Field(min_length=1, max_length=40)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    description: str = Field(default="分账", min_length=1, max_length=80)


class SharingOrderCreate(BaseModel):
    """Share a payment: ``receivers`` get their amounts; ``finish`` unfreezes what is left to the merchant
    afterwards (and ends sharing for the payment). No receivers and ``finish`` = only unfreeze."""

    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=40)
    receivers: list[ShareLineIn] = Field(default_factory=list, max_length=50)
    finish: StrictBool = False
    out_order_no: str | None = Field(default=None, pattern=OUT_NO)


class ShareLineOut(BaseModel):
    receiver_id: str
    account: str
    amount: int
    description: str
    result: str
    fail_reason: str | None
    returned_amount: int
    finished_at: datetime | None


class SharingOrderOut(BaseModel):
    id: str
    object: Literal["sharing_order"] = "sharing_order"
    livemode: bool
    payment_id: str
    out_order_no: str
    amount: int
    finish: bool
    status: str
    unfrozen_amount: int | None
    channel_order_id: str | None  # WeChat Pay order_id / Alipay settle_no
    failure_code: str | None
    receivers: list[ShareLineOut]
    created_at: datetime
    finished_at: datetime | None


class SharingOrderList(BaseModel):
    object: Literal["list"] = "list"
    data: list[SharingOrderOut]
    has_more: bool


class SharingReturnCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(min_length=1, max_length=40)
    receiver_id: str = Field(min_length=1, max_length=40)
    amount: StrictInt = Field(gt=0, le=MAX_AMOUNT_FEN)
    description: str = Field(default="分账回退", min_length=1, max_length=80)
    out_return_no: str | None = Field(default=None, pattern=OUT_NO)


class SharingReturnOut(BaseModel):
    id: str
    object: Literal["sharing_return"] = "sharing_return"
    livemode: bool
    order_id: str
    receiver_id: str
    out_return_no: str
    amount: int
    status: str
    failure_code: str | None
    created_at: datetime
    finished_at: datetime | None


class SharingReturnList(BaseModel):
    object: Literal["list"] = "list"
    data: list[SharingReturnOut]
    has_more: bool
