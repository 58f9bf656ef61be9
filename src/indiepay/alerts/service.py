"""Raising alerts. One incident is one alert: a dedupe key folds repeats together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.alerts.models import Alert
from indiepay.core.clock import Clock
from indiepay.core.ids import new_id


def raise_alert(session: Session, clock: Clock, *, kind: str, severity: str, message: str,
                dedupe_key: str, merchant_id: str | None = None, details: dict[str, Any] | None = None) -> Alert:
    """Record an alert unless one with the same dedupe key exists; returns the alert either way."""
    existing = session.scalars(select(Alert).where(Alert.dedupe_key == dedupe_key)).first()
    if existing is not None:
        return existing
    alert = Alert(id=new_id("alrt"), merchant_id=merchant_id, kind=kind, severity=severity, message=message,
                  details=details or {}, dedupe_key=dedupe_key, created_at=clock.now())
    session.add(alert)
    session.flush()
    return alert
