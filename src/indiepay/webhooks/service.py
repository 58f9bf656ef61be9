"""Emitting events and delivering them to the merchant's webhook endpoint.

Events are written in the same transaction as the state change that caused them, together with the
delivery job (the outbox), and are keyed so that the same business fact never produces two events.
Delivery happens in the worker, outside any transaction, with a delivery log row per attempt; each attempt
has ``INDIEPAY_WEBHOOK_TIMEOUT_SECONDS`` in all, however slowly the endpoint answers (:mod:`.deadline`).
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime
from functools import partial
from typing import Any

import httpx
from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from indiepay.alerts.rules import mask_url
from indiepay.alerts.service import raise_alert
from indiepay.context import ServiceContext
from indiepay.core import outbound
from indiepay.core.clock import Clock, business_day
from indiepay.core.errors import NotFound
from indiepay.core.ids import new_id
from indiepay.db.jobs.queue import enqueue
from indiepay.db.pagination import created_window, page_cursor
from indiepay.db.prepared import Prepared
from indiepay.db.upsert import insert_once
from indiepay.merchants.auth import Principal
from indiepay.vault.envelope import SealedSecret
from indiepay.webhooks import repository, signing
from indiepay.webhooks.deadline import post_within
from indiepay.webhooks.models import Event, WebhookDelivery, WebhookEndpoint
from indiepay.webhooks.schemas import EventList, EventOut

DELIVERY_JOB = "webhook.deliver"
DELIVERY_ATTEMPTS = 12
REDELIVERY_KEY = "webhook.redeliver:{event_id}"


def _secret_aad(merchant_id: str, livemode: bool) -> bytes:
    return f"indiepay/webhook-secret/{merchant_id}/{'live' if livemode else 'test'}".encode()


def check_url(ctx: ServiceContext, principal: Principal, url: str) -> None:
    """Refuse an endpoint the platform may not send to (:mod:`indiepay.core.outbound`), for the key's mode.

    Raises:
        InvalidRequest (``webhook_url_not_allowed``): with ``details.reason``.
    """
    outbound.check(url, livemode=principal.livemode, policy=ctx.settings.outbound_private_targets)


def set_endpoint(session: Session, ctx: ServiceContext, principal: Principal, url: str) -> tuple[str, str]:
    """Set (or replace) the endpoint for the key's mode; a fresh signing secret is returned once."""
    merchant_id = principal.require_merchant()
    secret = "whsec_" + secrets.token_urlsafe(32)
    sealed = ctx.vault.seal(secret, _secret_aad(merchant_id, principal.livemode)).as_dict()
    now = ctx.clock.now()
    endpoint = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.livemode == principal.livemode)).first()
    if endpoint is None:
        session.add(WebhookEndpoint(id=new_id("we"), merchant_id=merchant_id, livemode=principal.livemode,
                                    url=url, secret=sealed, created_at=now, updated_at=now))
    else:
        endpoint.url, endpoint.secret, endpoint.updated_at = url, sealed, now
    session.flush()
    return url, secret


def get_endpoint(session: Session, principal: Principal) -> WebhookEndpoint:
    merchant_id = principal.require_merchant()
    endpoint = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == merchant_id, WebhookEndpoint.livemode == principal.livemode)).first()
    if endpoint is None:
        raise NotFound("no webhook endpoint is set", code="webhook_endpoint_not_found")
    return endpoint


EVENTS: Table = Event.__table__  # type: ignore[assignment]
_ENDPOINTS = WebhookEndpoint.__table__.c
_HAS_ENDPOINT = Prepared(select(_ENDPOINTS.id).where(  # every payment's event asks it
    _ENDPOINTS.merchant_id == bindparam("merchant_id"), _ENDPOINTS.livemode == bindparam("livemode")).limit(1))


def emit_event(session: Session, ctx: ServiceContext, *, merchant_id: str, livemode: bool, type_: str,
               data: dict[str, Any], dedupe_key: str) -> Event | None:
    """Record an event and, when the merchant has an endpoint for that mode, its delivery job — both in
    the caller's transaction. A repeat of the same fact (same ``dedupe_key``) is ignored and returns None.
    Events from before an endpoint existed stay in the log but are not delivered (as with Stripe)."""
    now = ctx.clock.now()
    row = {"id": new_id("evt"), "merchant_id": merchant_id, "livemode": livemode, "type": type_,
           "dedupe_key": dedupe_key, "data": data, "delivered": False, "created_at": now}
    if not insert_once(session, EVENTS, row, ["dedupe_key"]):
        return None
    event = Event(**row)
    if _HAS_ENDPOINT.rows(session, {"merchant_id": merchant_id, "livemode": livemode}):
        enqueue(session, DELIVERY_JOB, {"event_id": event.id}, now=now, max_attempts=DELIVERY_ATTEMPTS)
    return event


def event_body(event: Event) -> bytes:
    return json.dumps({"id": event.id, "object": "event", "type": event.type, "livemode": event.livemode,
                       "created_at": event.created_at.isoformat(), "data": event.data},
                      separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class DeliveryFailed(Exception):
    """The merchant's endpoint did not answer 2xx; the job retries with backoff."""


def deliver(ctx: ServiceContext, event_id: str, *, again: bool = False, first_attempt: int = 1) -> None:
    """Deliver one event (a job handler). Raises DeliveryFailed so the worker retries with backoff.

    ``again``: a redelivery the merchant asked for (:func:`redeliver`), sent even if the event was delivered
    before. ``first_attempt``: the delivery log's attempt number this job started at (a redelivery does not
    send again what has reached the endpoint since it was asked for). When the job has used its last
    attempt the worker marks it dead and :func:`gave_up` tells the merchant — counted by the job itself, not
    by this log, which misses an attempt whose worker died mid-request."""
    with ctx.db.read() as session:
        event = session.get(Event, event_id)
        if event is None:
            return
        if event.delivered and (not again or _delivered_since(session, event_id, first_attempt)):
            return
        endpoint = session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.merchant_id == event.merchant_id,
            WebhookEndpoint.livemode == event.livemode)).first()
        if endpoint is None:
            return
        secret = ctx.vault.open(SealedSecret.from_dict(endpoint.secret),
                                _secret_aad(event.merchant_id, event.livemode))
        url, body = endpoint.url, event_body(event)
        attempt = 1 + _attempts_so_far(session, event_id)
    timestamp = int(ctx.clock.now().timestamp())
    headers = {"Content-Type": "application/json", "IndiePay-Event-Id": event_id,
               signing.SIGNATURE_HEADER: signing.header_value(secret, timestamp, body)}
    started = time.perf_counter()
    status_code: int | None = None
    # checked again before each attempt (the name may point elsewhere since the URL was set), and the
    # connection itself goes only to an address checked to be public (deadline.post_within: no DNS rebinding)
    private_ok = outbound.private_allowed(ctx.settings.outbound_private_targets, livemode=event.livemode)
    error = outbound.refusal(url, livemode=event.livemode, private_ok=private_ok)
    if error is not None:
        error = f"refused: {error}"
    else:
        try:
            status_code = post_within(ctx.adapters.http, url, content=body, headers=headers,
                                      budget=ctx.settings.webhook_timeout_seconds,
                                      public_only=not private_ok).status_code
            if not 200 <= status_code < 300:
                error = f"endpoint answered {status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    with ctx.db.transaction() as session:
        session.add(WebhookDelivery(id=new_id("whd"), event_id=event_id, url=url, attempt=attempt,
                                    status_code=status_code, error=error, duration_ms=duration_ms,
                                    created_at=ctx.clock.now()))
        if error is None:
            stored = session.get(Event, event_id)
            if stored is not None:
                stored.delivered = True
    if error is not None:
        raise DeliveryFailed(error)


def gave_up(session: Session, clock: Clock, event_id: str, error: str) -> None:
    """The worker's word that a delivery job is dead (its last attempt used, in the transaction that marks it
    so): tell the merchant its endpoint missed the event for good, unless it was delivered after all."""
    event = session.get(Event, event_id)
    if event is None or event.delivered:
        return
    endpoint = session.scalars(select(WebhookEndpoint).where(
        WebhookEndpoint.merchant_id == event.merchant_id, WebhookEndpoint.livemode == event.livemode)).first()
    _alert_gave_up(session, clock, event, endpoint.id if endpoint else "none", endpoint.url if endpoint else "",
                   error or "no answer")


def _alert_gave_up(session: Session, clock: Clock, event: Event, endpoint_id: str, url: str, error: str) -> None:
    """Tell the merchant its endpoint missed an event for good. An endpoint that is down is one incident
    a day, however many events it misses (the alert names the first; the delivery log has them all)."""
    day = business_day(clock.now()).isoformat()
    raise_alert(session, clock, kind="webhook_delivery_failed", severity="high", merchant_id=event.merchant_id,
                message=(f"webhook event {event.id} ({event.type}) could not be delivered to {mask_url(url)} after "
                         f"{DELIVERY_ATTEMPTS} attempts: {error}"),
                dedupe_key=f"webhook_delivery_failed:{endpoint_id}:{day}",
                details={"event_id": event.id, "event_type": event.type, "endpoint_id": endpoint_id,
                         "livemode": event.livemode, "last_error": error}, livemode=event.livemode)


def list_deliveries(session: Session, principal: Principal, limit: int = 50,
                    event_id: str | None = None) -> list[tuple[WebhookDelivery, Event]]:
    """The latest delivery attempts in the key's mode, newest first; ``event_id``: one event's attempts
    (an event of another merchant or mode has none here)."""
    merchant_id = principal.require_merchant()
    query = (select(WebhookDelivery, Event).join(Event, Event.id == WebhookDelivery.event_id)
             .where(Event.merchant_id == merchant_id, Event.livemode == principal.livemode)
             .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc()).limit(limit))
    if event_id is not None:
        query = query.where(WebhookDelivery.event_id == event_id)
    return [(row[0], row[1]) for row in session.execute(query)]


def _delivered_since(session: Session, event_id: str, attempt: int) -> bool:
    """Has an attempt numbered ``attempt`` or later reached the endpoint? (A redelivery that must retry does
    not send again what it — or the event's automatic delivery — has delivered since it was asked for.)"""
    return session.scalars(select(WebhookDelivery.id).where(
        WebhookDelivery.event_id == event_id, WebhookDelivery.attempt >= attempt,
        WebhookDelivery.error.is_(None)).limit(1)).first() is not None


def _attempts_so_far(session: Session, event_id: str) -> int:
    return len(list(session.scalars(select(WebhookDelivery.id).where(WebhookDelivery.event_id == event_id))))


def event_out(event: Event) -> EventOut:
    return EventOut(id=event.id, type=event.type, livemode=event.livemode, created_at=event.created_at,
                    data=event.data, delivered=event.delivered)


def get_event(session: Session, principal: Principal, event_id: str) -> Event:
    event = repository.get_scoped(session, principal.require_merchant(), principal.livemode, event_id)
    if event is None:
        raise NotFound("no such event", code="event_not_found")
    return event


def list_events(session: Session, principal: Principal, *, type_: str | None, delivered: bool | None, limit: int,
                starting_after: str | None, created_gte: datetime | None = None,
                created_lt: datetime | None = None) -> EventList:
    """The merchant's events in the key's mode, newest first — what a merchant reads to catch up after its
    endpoint was down (``delivered=false``: the ones it has not acknowledged yet).

    Raises:
        InvalidRequest: ``invalid_created_range``; ``invalid_cursor`` when ``starting_after`` names no
            event of yours.
    """
    merchant_id = principal.require_merchant()
    window = created_window(Event, created_gte, created_lt)
    cursor = page_cursor(starting_after, partial(repository.get_scoped, session, merchant_id, principal.livemode),
                         "event")
    rows = repository.list_page(session, merchant_id, principal.livemode, type_=type_, delivered=delivered,
                                limit=limit, starting_after=cursor, window=window)
    return EventList(data=[event_out(event) for event in rows[:limit]], has_more=len(rows) > limit)


def redeliver(session: Session, ctx: ServiceContext, principal: Principal, event_id: str) -> Event:
    """Queue one more delivery of an event to the endpoint set now — delivered before or not (e.g. after the
    merchant's endpoint lost it, or after the automatic attempts gave up). Asked again while one is still
    queued, it stays one; the worker sends it at once and retries it like any delivery.

    Raises:
        NotFound: ``event_not_found``; ``webhook_endpoint_not_found`` when the mode has no endpoint to send to.
    """
    event = get_event(session, principal, event_id)
    get_endpoint(session, principal)
    now = ctx.clock.now()
    enqueue(session, DELIVERY_JOB, {"event_id": event.id, "again": True,
                                    "first_attempt": 1 + _attempts_so_far(session, event.id)},
            now=now, max_attempts=DELIVERY_ATTEMPTS, unique_key=REDELIVERY_KEY.format(event_id=event.id))
    return event
