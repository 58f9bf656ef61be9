"""API shapes for webhook endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class WebhookEndpointSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=500, pattern=r"^https?://[^\s]+$")


class WebhookEndpointOut(BaseModel):
    url: str
    secret: str | None = None
    livemode: bool


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    url: str
    attempt: int
    status_code: int | None
    error: str | None
    duration_ms: int
    created_at: str


class EventOut(BaseModel):
    """An event as its webhook carries it, plus whether it reached the merchant's endpoint yet."""

    id: str
    object: Literal["event"] = "event"
    type: str
    livemode: bool
    created_at: datetime
    data: dict[str, Any]
    delivered: bool


class EventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EventOut]
    has_more: bool
