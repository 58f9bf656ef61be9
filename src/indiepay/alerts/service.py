"""Raising, listing and acknowledging alerts. One incident is one alert: a dedupe key folds repeats.

A new alert and its ``alerts.dispatch`` job are written in the caller's transaction (the outbox), so an
alert is delivered if and only if it was stored; a repeat of the same incident writes nothing and sends
nothing. Delivery itself (rate limit, channels, retries) happens in the worker: :mod:`.tasks`.
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, Table, select
from sqlalchemy.orm import Session

from indiepay.alerts import repository, rules
from indiepay.alerts.models import Alert, AlertDelivery
from indiepay.core.clock import Clock, storable_utc
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.core.ids import new_id
from indiepay.db.engine import after_commit
from indiepay.db.jobs.queue import backoff, enqueue
from indiepay.db.pagination import page_cursor
from indiepay.db.upsert import insert_once
from indiepay.merchants.auth import Principal

DISPATCH_JOB = "alerts.dispatch"
# A delivery keeps trying for two days — an SMTP server or a receiver down overnight or over a maintenance
# window still gets the alert once it is back — at the job backoff (5 s doubling, then hourly): 58 attempts.
DELIVERY_WINDOW = timedelta(hours=48)
DELIVERY_ATTEMPTS = rules.attempts_within(DELIVERY_WINDOW, backoff)
DISPATCH_JOB_ATTEMPTS = DELIVERY_ATTEMPTS + 2  # a little slack for runs that fail before sending
MAX_PAGE = 100
DAILY_CAP_WARNING = "daily_cap_warning"

ALERTS: Table = Alert.__table__  # type: ignore[assignment]
KNOWN_LIMIT = 20_000


class _KnownIncidents:
    """Dedupe keys of alerts known to be stored and committed, per database engine.

    A burst that trips one rule raises the same incident on every payment of the hour; each repeat would
    run an insert that does nothing, inside the payment's transaction. Alerts are never deleted, so a key
    seen committed stays stored and the repeat can be skipped without asking the database. Keys are learned
    only after the transaction that met them commits; the set is bounded (cleared when full: forgetting a
    key costs one no-op insert)."""

    def __init__(self) -> None:
        self._by_engine: weakref.WeakKeyDictionary[Engine, set[str]] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def of(self, engine: Engine) -> set[str]:
        known = self._by_engine.get(engine)
        if known is None:
            with self._lock:
                known = self._by_engine.setdefault(engine, set())
        return known

    def learn(self, known: set[str], key: str) -> None:
        with self._lock:
            if len(known) >= KNOWN_LIMIT:
                known.clear()
            known.add(key)


KNOWN_INCIDENTS = _KnownIncidents()
# dedupe keys whose alert a job queued by a committed transaction will raise (see :func:`defer_alert`)
QUEUED_INCIDENTS = _KnownIncidents()


def raise_alert(session: Session, clock: Clock, *, kind: str, severity: str, message: str,
                dedupe_key: str, merchant_id: str | None = None, details: dict[str, Any] | None = None,
                livemode: bool | None = None) -> Alert:
    """Record an alert and queue its delivery, unless the same incident (``dedupe_key``) was raised before.

    Insert-or-nothing, so two processes raising the same incident at once store one alert and queue one
    dispatch. Returns the stored alert either way (the earlier one for a repeat).

    ``livemode``: whether the incident concerns real money (a live payment, a production account) or test
    data; None for neither. A test key sees test alerts, a live key live ones, and test alerts are sent
    to the merchant's alert webhook only.
    """
    record_alert(session, clock, kind=kind, severity=severity, message=message, dedupe_key=dedupe_key,
                 merchant_id=merchant_id, details=details, livemode=livemode)
    return session.scalars(select(Alert).where(Alert.dedupe_key == dedupe_key)).one()


def record_alert(session: Session, clock: Clock, *, kind: str, severity: str, message: str,
                 dedupe_key: str, merchant_id: str | None = None, details: dict[str, Any] | None = None,
                 livemode: bool | None = None) -> bool:
    """:func:`raise_alert` for callers that do not need the alert back (payment screening raises alerts
    inside the payment's transaction: no read-back there). True when this call stored a new alert."""
    known = KNOWN_INCIDENTS.of(session.get_bind().engine)
    if dedupe_key in known:
        return False
    now = clock.now()
    row = {"id": new_id("alrt"), "merchant_id": merchant_id, "livemode": livemode, "kind": kind,
           "severity": severity, "message": message, "details": details or {}, "dedupe_key": dedupe_key,
           "created_at": now, "delivery_state": "pending"}
    after_commit(session, lambda: KNOWN_INCIDENTS.learn(known, dedupe_key))
    if not insert_once(session, ALERTS, row, ["dedupe_key"]):
        return False
    enqueue(session, DISPATCH_JOB, {"alert_id": row["id"]}, now=now, max_attempts=DISPATCH_JOB_ATTEMPTS)
    return True


def defer_alert(session: Session, *, dedupe_key: str, job: str, args: dict[str, Any], now: datetime) -> bool:
    """Queue ``job`` (with ``args``) in the caller's transaction to raise the alert of incident
    ``dedupe_key`` later, through :func:`record_alert` in a transaction of its own — unless this process
    knows that incident stored, or queued by a committed transaction. True when a job was queued.

    For an alert raised from a hot path: one job row instead of the alert, its insert-or-nothing and its
    dispatch job. The job's row commits with the caller's facts, so the alert is raised if and only if
    they are stored; two processes queuing the same incident raise one alert (the insert dedupes)."""
    engine = session.get_bind().engine
    stored, queued = KNOWN_INCIDENTS.of(engine), QUEUED_INCIDENTS.of(engine)
    if dedupe_key in stored or dedupe_key in queued:
        return False
    enqueue(session, job, args, now=now, max_attempts=DISPATCH_JOB_ATTEMPTS)
    after_commit(session, lambda: QUEUED_INCIDENTS.learn(queued, dedupe_key))
    return True


def warn_daily_cap(session: Session, clock: Clock, *, merchant_id: str | None, scope: str, scope_id: str,
                   cap: int, used_before: int, used_after: int, business_day: date) -> list[Alert]:
    """Raise a ``daily_cap_warning`` for each level (80 %, 100 %) that a use of a daily cap crossed.

    Args:
        scope: what the cap belongs to (``merchant``, ``channel_account``, ...); ``scope_id`` its id.
        cap, used_before, used_after: in fen, for ``business_day`` (Asia/Shanghai).

    Returns the alerts raised (or found again): one per (scope, scope_id, business_day, level), so
    concurrent payments crossing the same level produce one warning.
    """
    raised = []
    for level in rules.cap_warning_levels(cap, used_before, used_after):
        severity = "high" if level >= 100 else "warning"
        reached = "reached" if level >= 100 else f"is at {level}% of"
        message = (f"{scope} {scope_id} {reached} its daily cap on {business_day.isoformat()}: "
                   f"{used_after} of {cap} fen used")
        raised.append(raise_alert(
            session, clock, kind=DAILY_CAP_WARNING, severity=severity, message=message,
            dedupe_key=f"{DAILY_CAP_WARNING}:{scope}:{scope_id}:{business_day.isoformat()}:{level}",
            merchant_id=merchant_id, livemode=True,  # the limits protect real money: only live payments warn
            details={"scope": scope, "scope_id": scope_id, "level": level, "cap": cap, "used": used_after,
                     "remaining": max(cap - used_after, 0), "business_day": business_day.isoformat()}))
    return raised


@dataclass(frozen=True)
class AlertPage:
    alerts: list[tuple[Alert, list[AlertDelivery]]]
    has_more: bool


def caller_scope(principal: Principal) -> tuple[str | None, bool | None]:
    """Whose alerts the caller reads, in which mode: a merchant's own in its key's mode; (None, None) —
    every merchant's, both modes — for the operator."""
    return (None, None) if principal.is_admin else (principal.require_merchant(), principal.livemode)


def list_alerts(session: Session, *, merchant_id: str | None, kind: str | None = None, severity: str | None = None,
                since: datetime | None = None, limit: int = 20, starting_after: str | None = None,
                livemode: bool | None = None) -> AlertPage:
    """Alerts newest first with their deliveries, ``limit`` at a time.

    Args:
        merchant_id: only this merchant's alerts (``None``: every alert — the operator's view).
        livemode: only alerts of that mode, and those about neither (``None``: both modes).
        starting_after: the id of the last alert of the previous page.

    Raises:
        InvalidRequest: ``limit`` outside 1..100 (``invalid_request``), a naive or out-of-range
            ``since`` (``invalid_since``), or ``starting_after`` naming no alert in this scope (``invalid_cursor``).
    """
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidRequest(f"limit must be between 1 and {MAX_PAGE}", code="invalid_request")
    if since is not None and since.tzinfo is None:
        raise InvalidRequest("since needs a time zone (e.g. 2030-01-01T00:00:00Z)", code="invalid_since")
    if since is not None:
        try:
            storable_utc(since)
        except ValueError as exc:
            raise InvalidRequest(f"since: {exc}", code="invalid_since") from exc
    def visible(found: str) -> Alert | None:
        row = session.get(Alert, found)
        return row if row is not None and _visible(row, merchant_id, livemode) else None

    cursor = page_cursor(starting_after, visible, "alert")
    rows = repository.list_page(session, merchant_id=merchant_id, kind=kind, severity=severity, since=since,
                                limit=limit, starting_after=cursor, livemode=livemode)
    page = rows[:limit]
    deliveries = repository.deliveries_for(session, [a.id for a in page])
    return AlertPage([(a, deliveries[a.id]) for a in page], has_more=len(rows) > limit)


def get_alert(session: Session, alert_id: str, *, merchant_id: str | None,
              livemode: bool | None = None) -> tuple[Alert, list[AlertDelivery]]:
    """One alert with its deliveries; ``merchant_id`` and ``livemode`` scope the lookup as in
    :func:`list_alerts` (``None``: the operator sees all).

    Raises:
        NotFound (``alert_not_found``): no such alert, or it is not this merchant's or not of this mode.
    """
    alert = session.get(Alert, alert_id)
    if alert is None or not _visible(alert, merchant_id, livemode):
        raise NotFound(f"no alert {alert_id}", code="alert_not_found")
    return alert, repository.deliveries_for(session, [alert.id])[alert.id]


def _visible(alert: Alert, merchant_id: str | None, livemode: bool | None) -> bool:
    return ((merchant_id is None or alert.merchant_id == merchant_id)
            and (livemode is None or alert.livemode is None or alert.livemode == livemode))


def acknowledge(session: Session, clock: Clock, alert_id: str, *, merchant_id: str | None,
                actor: str, livemode: bool | None = None) -> tuple[Alert, list[AlertDelivery]]:
    """Mark an alert as seen by someone who will act on it; acknowledging twice keeps the first.

    Raises:
        NotFound (``alert_not_found``): as :func:`get_alert`.
    """
    alert, deliveries = get_alert(session, alert_id, merchant_id=merchant_id, livemode=livemode)
    if alert.acknowledged_at is None:
        alert.acknowledged_at = clock.now()
        alert.acknowledged_by = actor[:64]
        session.flush()
    return alert, deliveries
