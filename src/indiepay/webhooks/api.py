"""HTTP: the merchant's webhook endpoint and its delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.httpapi.deps import Caller, CreatedGte, CreatedLt, Ctx
from indiepay.webhooks import service
from indiepay.webhooks.schemas import DeliveryOut, EventList, EventOut, WebhookEndpointOut, WebhookEndpointSet

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.put("/webhook_endpoint", response_model=WebhookEndpointOut)
def set_endpoint(body: WebhookEndpointSet, ctx: Ctx, caller: Caller) -> WebhookEndpointOut:
    """Set where the key's mode's events go; an address the platform may not send to is refused
    (``webhook_url_not_allowed``: see :mod:`indiepay.core.outbound`)."""
    service.check_url(ctx, caller, body.url)  # resolves the host: before the transaction, never inside it
    with ctx.db.transaction() as session:
        url, secret = service.set_endpoint(session, ctx, caller, body.url)
    return WebhookEndpointOut(url=url, secret=secret, livemode=caller.livemode)


@router.get("/webhook_endpoint", response_model=WebhookEndpointOut)
def get_endpoint(ctx: Ctx, caller: Caller) -> WebhookEndpointOut:
    with ctx.db.read() as session:
        endpoint = service.get_endpoint(session, caller)
        return WebhookEndpointOut(url=endpoint.url, livemode=endpoint.livemode)


@router.get("/webhook_deliveries", response_model=list[DeliveryOut])
def list_deliveries(ctx: Ctx, caller: Caller, event_id: str | None = None,
                    limit: Annotated[int, Query(ge=1, le=100)] = 50) -> list[DeliveryOut]:
    with ctx.db.read() as session:
        return [DeliveryOut(id=d.id, event_id=e.id, event_type=e.type, url=d.url, attempt=d.attempt,
                            status_code=d.status_code, error=d.error, duration_ms=d.duration_ms,
                            created_at=d.created_at.isoformat())
                for d, e in service.list_deliveries(session, caller, limit=limit, event_id=event_id)]


@router.get("/events", response_model=EventList)
def list_events(ctx: Ctx, caller: Caller, event_type: Annotated[str | None, Query(alias="type")] = None,
                delivered: bool | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                starting_after: str | None = None, created_gte: CreatedGte = None,
                created_lt: CreatedLt = None) -> EventList:
    with ctx.db.read() as session:
        return service.list_events(session, caller, type_=event_type, delivered=delivered, limit=limit,
                                   starting_after=starting_after, created_gte=created_gte, created_lt=created_lt)


@router.get("/events/{event_id}", response_model=EventOut)
def get_event(event_id: str, ctx: Ctx, caller: Caller) -> EventOut:
    with ctx.db.read() as session:
        return service.event_out(service.get_event(session, caller, event_id))


@router.post("/events/{event_id}/redeliver", status_code=202, response_model=EventOut)
def redeliver_event(event_id: str, ctx: Ctx, caller: Caller) -> EventOut:
    """Queue one more delivery of the event to the webhook endpoint (202: the worker sends it at once)."""
    with ctx.db.transaction() as session:
        out = service.event_out(service.redeliver(session, ctx, caller, event_id))
    ctx.wake_worker()
    return out
