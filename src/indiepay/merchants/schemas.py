"""API shapes for merchants."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from indiepay.core.money import MAX_AMOUNT_FEN, MAX_TOTAL_FEN


class MerchantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    short_name: str = Field(min_length=1, max_length=64)
    subject_type: Literal["individual", "enterprise"]
    contact_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    collection_mode: Literal["independent", "platform"] = "independent"
    platform_fee_bps: int = Field(default=40, ge=0, le=10_000)
    tech_fee_bps: int = Field(default=0, ge=0, le=10_000)


class MerchantUpdate(BaseModel):
    """What the operator may change after onboarding (fees apply to payments created afterwards)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default=None, min_length=1, max_length=200)
    short_name: str | None = Field(default=None, min_length=1, max_length=64)
    subject_type: Literal["individual", "enterprise"] | None = None
    kyc_status: Literal["pending", "complete", "rejected"] | None = None
    platform_fee_bps: int | None = Field(default=None, ge=0, le=10_000)
    tech_fee_bps: int | None = Field(default=None, ge=0, le=10_000)
    # fen; null clears it (the subject type's default)
    single_limit: int | None = Field(default=None, gt=0, le=MAX_AMOUNT_FEN)
    daily_limit: int | None = Field(default=None, gt=0, le=MAX_TOTAL_FEN)  # fen per business day; null clears it

    NULLABLE: ClassVar[frozenset[str]] = frozenset({"single_limit", "daily_limit"})


class CollectionModeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: Literal["independent", "platform"]


class CollectionModeChangeOut(BaseModel):
    id: str
    merchant_id: str
    from_mode: str
    to_mode: str
    actor: str
    created_at: datetime


class MerchantOut(BaseModel):
    """A merchant. ``api_keys`` (``{test, live}``, the raw keys) is present only in the answer that created
    it: the keys are stored hashed. A repeat of that request with the same ``Idempotency-Key`` answers the
    same merchant with ``api_keys`` null and ``api_keys_redacted`` true — the keys were shown once."""

    id: str
    name: str
    short_name: str
    subject_type: str
    contact_email: str | None
    status: str
    collection_mode: str
    kyc_status: str
    platform_fee_bps: int
    tech_fee_bps: int
    single_limit: int | None = None
    daily_limit: int | None = None
    created_at: datetime
    api_keys: dict[str, str] | None = None
    api_keys_redacted: bool = Field(default=False, description=(
        "true on a replay of the creating answer (same Idempotency-Key): the keys were shown once, in the "
        "first answer, and are kept only hashed"))


class ApiKeyCreate(BaseModel):
    """A further key for the calling merchant, in the calling key's mode (a test key cannot mint live keys)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["test", "live"]
    read_only: bool = False


class ApiKeyIssue(BaseModel):
    """A new key the operator issues to a merchant that lost its own (or whose key leaked)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["test", "live"]
    revoke_existing: bool = True  # the keys of that mode stop working at once (a leaked key must)


class ApiKeyRoll(BaseModel):
    model_config = ConfigDict(extra="forbid")

    expires_in_seconds: int = Field(default=24 * 3600, ge=0, le=30 * 24 * 3600)


class ApiKeyOut(BaseModel):
    """A key's public facts; ``key`` (the raw key) is present only in the response that created it."""

    id: str
    mode: Literal["test", "live"]
    read_only: bool
    prefix: str
    last4: str
    created_at: datetime
    expires_at: datetime | None
    key: str | None = None
    old_key: ApiKeyOut | None = None  # after a roll: the rolled key and when it stops working


class MerchantList(BaseModel):
    object: Literal["list"] = "list"
    data: list[MerchantOut]
    has_more: bool
