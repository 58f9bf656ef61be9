"""Alert queries: the list page, deliveries by alert, rate-limit slots and delivery claims.

Every write that decides "who sends" is a conditional UPDATE, so concurrent workers in any number of
processes agree without locks held across network I/O: a slot is taken only while the window's count is
under the limit, and a delivery is claimed only from ``pending`` (or a ``sending`` whose lease ran out).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import Table, and_, or_, select, update
from sqlalchemy.orm import Session

from indiepay.alerts.models import Alert, AlertDelivery, AlertRateWindow
from indiepay.db.pagination import newest_first
from indiepay.db.upsert import insert_once

RATE_WINDOWS: Table = AlertRateWindow.__table__  # type: ignore[assignment]
DELIVERIES: Table = AlertDelivery.__table__  # type: ignore[assignment]


def list_page(session: Session, *, merchant_id: str | None, kind: str | None, severity: str | None,
              since: datetime | None, limit: int, starting_after: Alert | None,
              livemode: bool | None = None) -> list[Alert]:
    """Newest first (then id), keyset-paginated; one row more than ``limit`` tells "has more".
    ``livemode``: only alerts of that mode and those about neither (None: every alert)."""
    where = []
    if since is not None:
        where.append(Alert.created_at >= since)
    if livemode is not None:
        where.append(or_(Alert.livemode == livemode, Alert.livemode.is_(None)))
    return newest_first(session, Alert, limit=limit, starting_after=starting_after,
                        equal={Alert.merchant_id: merchant_id, Alert.kind: kind, Alert.severity: severity},
                        where=tuple(where))


def deliveries_for(session: Session, alert_ids: Sequence[str]) -> dict[str, list[AlertDelivery]]:
    """Deliveries by alert id, in a stable order (channel, then target)."""
    found: dict[str, list[AlertDelivery]] = {alert_id: [] for alert_id in alert_ids}
    if alert_ids:
        query = (select(AlertDelivery).where(AlertDelivery.alert_id.in_(alert_ids))
                 .order_by(AlertDelivery.channel, AlertDelivery.target))
        for delivery in session.scalars(query):
            found[delivery.alert_id].append(delivery)
    return found


def take_rate_slot(session: Session, key: str, window_start: datetime, limit: int) -> bool:
    """Count one delivered alert in the window ``key`` unless it already holds ``limit``; True if counted.

    The row is created on first use (insert-or-nothing), then incremented by ``UPDATE … WHERE count <
    limit``: on PostgreSQL a concurrent writer waits on the row lock and re-checks the condition, on SQLite
    writers are serialised, so two processes can never both take the last slot.
    """
    insert_once(session, RATE_WINDOWS, {"key": key, "window_start": window_start, "count": 0}, ["key"])
    result = session.execute(update(AlertRateWindow)
                             .where(AlertRateWindow.key == key, AlertRateWindow.count < limit)
                             .values(count=AlertRateWindow.count + 1))
    return bool(getattr(result, "rowcount", 0) == 1)


def add_delivery(session: Session, row: dict[str, object]) -> bool:
    """Create a delivery unless the same (alert, channel, target) exists (a re-planned alert)."""
    return insert_once(session, DELIVERIES, row, ["alert_id", "channel", "target"])


def claim_delivery(session: Session, delivery_id: str, *, now: datetime, lease_until: datetime) -> bool:
    """Move a delivery to ``sending`` (counting the attempt) if nobody else is sending it; True if claimed."""
    claimable = or_(AlertDelivery.status == "pending",
                    and_(AlertDelivery.status == "sending", AlertDelivery.claimed_until < now))
    result = session.execute(update(AlertDelivery).where(AlertDelivery.id == delivery_id, claimable)
                             .values(status="sending", attempts=AlertDelivery.attempts + 1,
                                     claimed_until=lease_until))
    return bool(getattr(result, "rowcount", 0) == 1)


def finish_delivery(session: Session, delivery_id: str, attempts: int, *, status: str, error: str | None,
                    sent_at: datetime | None) -> None:
    """Record the outcome of the attempt this worker claimed (``attempts`` identifies the claim, so a
    worker whose lease ran out cannot overwrite the outcome of the one that took over)."""
    session.execute(update(AlertDelivery)
                    .where(AlertDelivery.id == delivery_id, AlertDelivery.status == "sending",
                           AlertDelivery.attempts == attempts)
                    .values(status=status, last_error=error, sent_at=sent_at, claimed_until=None))
