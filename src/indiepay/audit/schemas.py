"""API shapes of the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventOut(BaseModel):
    id: str
    sequence: int
    occurred_at: datetime
    actor: str
    merchant_id: str | None
    livemode: bool | None  # None: about neither mode, or recorded before events kept their mode
    action: str
    target_type: str | None
    target_id: str | None
    origin: str | None
    result: str
    details: dict[str, Any]
    hash: str
