"""HTTP: the merchant's webhook endpoint and its delivery log."""

from __future__ import annotations

from fastapi import APIRouter

from indiepay.httpapi.deps import Caller, Ctx
from indiepay.webhooks import service
from indiepay.webhooks.schemas import DeliveryOut, WebhookEndpointOut, WebhookEndpointSet

router = APIRouter(prefix="/v1", tags=["webhooks"])


@router.put("/webhook_endpoint", response_model=WebhookEndpointOut)
def set_endpoint(body: WebhookEndpointSet, ctx: Ctx, caller: Caller) -> WebhookEndpointOut:
    with ctx.db.transaction() as session:
        url, secret = service.set_endpoint(session, ctx, caller, body.url)
    return WebhookEndpointOut(url=url, secret=secret, livemode=caller.livemode)


@router.get("/webhook_endpoint", response_model=WebhookEndpointOut)
def get_endpoint(ctx: Ctx, caller: Caller) -> WebhookEndpointOut:
    with ctx.db.read() as session:
        endpoint = service.get_endpoint(session, caller)
        return WebhookEndpointOut(url=endpoint.url, livemode=endpoint.livemode)


@router.get("/webhook_deliveries", response_model=list[DeliveryOut])
def list_deliveries(ctx: Ctx, caller: Caller) -> list[DeliveryOut]:
    with ctx.db.read() as session:
        return [DeliveryOut(id=d.id, event_id=e.id, event_type=e.type, url=d.url, attempt=d.attempt,
                            status_code=d.status_code, error=d.error, duration_ms=d.duration_ms,
                            created_at=d.created_at.isoformat())
                for d, e in service.list_deliveries(session, caller)]
