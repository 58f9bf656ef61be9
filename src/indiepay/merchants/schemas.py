"""API shapes for merchants."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class MerchantCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    short_name: str = Field(min_length=1, max_length=64)
    subject_type: Literal["individual", "enterprise"]
    contact_email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class MerchantOut(BaseModel):
    id: str
    name: str
    short_name: str
    subject_type: str
    contact_email: str | None
    status: str
    collection_mode: str
    created_at: datetime
    api_keys: dict[str, str] | None = None
