"""API shapes for channel accounts. Credentials go in; only fingerprints and last-4s come out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from indiepay.core.money import MAX_TOTAL_FEN


class ChannelAccountCreate(BaseModel):
    """Either typed-in credentials, or ``sandbox: true`` to have the built-in gateway provision some."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["wechatpay", "alipay", "unionpay", "bank_transfer"]
    sandbox: bool = False
    environment: Literal["sandbox", "production"] | None = None
    role: Literal["primary", "backup"] = "primary"
    weight: int = Field(default=1, ge=0, le=1_000)  # traffic share among the primaries (0: drained)
    credentials: dict[str, str] | None = None
    key_mode: Literal["public_key", "platform_certificate"] | None = None
    fee_rate_bps: int = Field(default=60, ge=0, le=10_000)  # what the channel charges (60 bps = 0.6 %)
    settlement_bank: str | None = Field(default=None, min_length=1, max_length=64)
    daily_cap: int | None = Field(default=None, gt=0, le=MAX_TOTAL_FEN)  # fen per business day routed to this account

    @model_validator(mode="after")
    def _either_sandbox_or_credentials(self) -> ChannelAccountCreate:
        if self.sandbox:
            if self.credentials is not None:
                raise ValueError("give either sandbox: true or credentials, not both")
            if self.environment not in (None, "sandbox"):
                raise ValueError("a provisioned sandbox account has environment 'sandbox'")
        else:
            if self.credentials is None:
                raise ValueError("credentials are required unless sandbox is true")
            if self.environment is None:
                raise ValueError("environment is required with credentials")
        return self


class CredentialView(BaseModel):
    fingerprint: str
    last4: str


class ChannelAccountOut(BaseModel):
    id: str
    owner: str  # merchant | platform
    merchant_id: str | None
    channel: str
    environment: str
    role: str
    weight: int = 1
    status: str
    fee_rate_bps: int
    settlement_bank: str | None
    daily_cap: int | None = None
    verified_at: datetime | None
    credentials: dict[str, CredentialView] = Field(default_factory=dict)
    credentials_updated_at: datetime | None = None  # when the current credentials were entered
    credentials_expire_at: datetime | None = None  # earliest certificate expiry among them, when known
    # what the last rotation replaced: still accepted for callbacks until the new set is verified
    previous_credentials: dict[str, CredentialView] | None = None
    previous_credentials_until: datetime | None = None
    created_at: datetime


class ChannelAccountUpdate(BaseModel):
    """What the operator may change on an account (credentials are replaced by connecting a new one)."""

    model_config = ConfigDict(extra="forbid")

    role: Literal["primary", "backup"] | None = None
    weight: int | None = Field(default=None, ge=0, le=1_000)
    fee_rate_bps: int | None = Field(default=None, ge=0, le=10_000)
    settlement_bank: str | None = Field(default=None, min_length=1, max_length=64)
    daily_cap: int | None = Field(default=None, gt=0, le=MAX_TOTAL_FEN)  # null clears the cap


class CredentialsRotate(BaseModel):
    """New credentials for an existing account: the same fields account creation takes for its channel.

    The fields that name the merchant account at the channel (WeChat ``mchid``; Alipay ``app_id`` and
    ``seller_id``) must stay the same: another merchant account is a new channel account, not a rotation.
    """

    model_config = ConfigDict(extra="forbid")

    credentials: dict[str, str]
