"""API shapes of alerts and alert channels."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from indiepay.alerts import rules
from indiepay.alerts.models import Alert, AlertDelivery


class AlertChannelsSet(BaseModel):
    """``PUT /v1/alert_channels``: the whole configuration (what is left out is cleared)."""

    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(default=None, max_length=500)
    webhook_enabled: bool = True
    emails: list[str] = Field(default_factory=list, max_length=50)
    email_enabled: bool = True
    phones: list[str] = Field(default_factory=list, max_length=50)
    sms_enabled: bool = True
    rotate_webhook_secret: bool = False


class AlertChannelsOut(BaseModel):
    webhook_url: str | None
    webhook_enabled: bool
    webhook_secret: str | None = Field(default=None, description="shown once: when first set or rotated")
    webhook_secret_last4: str | None
    emails: list[str]
    email_enabled: bool
    phones: list[str]
    sms_enabled: bool
    updated_at: datetime | None


class AlertDeliveryOut(BaseModel):
    id: str
    channel: str
    target: str = Field(description="masked: a***@example.com, +86*******8000, the URL without its query")
    status: str
    attempts: int
    last_error: str | None
    sent_at: datetime | None


class AlertOut(BaseModel):
    id: str
    object: Literal["alert"] = "alert"
    merchant_id: str | None
    livemode: bool | None  # about real money, about test data, or (None) about neither
    kind: str
    severity: str
    message: str
    details: dict[str, Any]
    created_at: datetime
    delivery_state: str | None
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    deliveries: list[AlertDeliveryOut]


class AlertList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AlertOut]
    has_more: bool


def alert_out(alert: Alert, deliveries: list[AlertDelivery]) -> AlertOut:
    return AlertOut(
        id=alert.id, merchant_id=alert.merchant_id, livemode=alert.livemode, kind=alert.kind,
        severity=alert.severity, message=alert.message,
        details=alert.details, created_at=alert.created_at, delivery_state=alert.delivery_state,
        acknowledged_at=alert.acknowledged_at, acknowledged_by=alert.acknowledged_by,
        deliveries=[AlertDeliveryOut(id=d.id, channel=d.channel, target=rules.mask_target(d.channel, d.target),
                                     status=d.status, attempts=d.attempts, last_error=d.last_error, sent_at=d.sent_at)
                    for d in deliveries])
