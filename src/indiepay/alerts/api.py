"""HTTP: alerts (a merchant sees its own; the operator sees all) and a merchant's alert channels.

A merchant's test key sees its alerts about test data (test-mode payments, sandbox accounts), its live key
those about real money (live payments, production accounts); both see the few about neither. The
operator sees everything and may filter by ``merchant_id``.

The alert channels are one setting per merchant that carries its live alerts: either key reads them (the
signing secret is never shown again after the answer that issued it), only the live key changes them —
a test key gets 403 ``livemode_required``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.alerts import channels, service
from indiepay.alerts.schemas import AlertChannelsOut, AlertChannelsSet, AlertList, AlertOut, alert_out
from indiepay.audit.service import actor_of
from indiepay.core.errors import InvalidRequest
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal

router = APIRouter(prefix="/v1", tags=["alerts"])


def _scope(caller: Principal) -> str | None:
    return service.caller_scope(caller)[0]


def _mode(caller: Principal) -> bool | None:
    return service.caller_scope(caller)[1]


@router.get("/alerts", response_model=AlertList)
def list_alerts(ctx: Ctx, caller: Caller, merchant_id: str | None = None, kind: str | None = None,
                severity: str | None = None,
                since: Annotated[datetime | None, Query(description="ISO 8601 with a time zone")] = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 20,
                starting_after: str | None = None) -> AlertList:
    scope = _scope(caller)
    if scope is not None and merchant_id is not None and merchant_id != scope:
        raise InvalidRequest("merchant_id is an operator filter", code="invalid_request",
                             details={"param": "merchant_id"})
    with ctx.db.read() as session:
        page = service.list_alerts(session, merchant_id=scope or merchant_id, kind=kind, severity=severity,
                                   since=since, limit=limit, starting_after=starting_after,
                                   livemode=_mode(caller))
    return AlertList(data=[alert_out(a, d) for a, d in page.alerts], has_more=page.has_more)


@router.get("/alerts/{alert_id}", response_model=AlertOut)
def get_alert(alert_id: str, ctx: Ctx, caller: Caller) -> AlertOut:
    with ctx.db.read() as session:
        return alert_out(*service.get_alert(session, alert_id, merchant_id=_scope(caller), livemode=_mode(caller)))


@router.post("/alerts/{alert_id}/acknowledge", response_model=AlertOut)
def acknowledge_alert(alert_id: str, ctx: Ctx, caller: Caller) -> AlertOut:
    with ctx.db.transaction() as session:
        return alert_out(*service.acknowledge(session, ctx.clock, alert_id, merchant_id=_scope(caller),
                                              actor=actor_of(caller), livemode=_mode(caller)))


@router.put("/alert_channels", response_model=AlertChannelsOut)
def set_alert_channels(body: AlertChannelsSet, ctx: Ctx, caller: Caller) -> AlertChannelsOut:
    """Replace where the merchant's alerts go (the live key only)."""
    request = channels.ChannelsInput(**body.model_dump())
    channels.check_webhook_url(ctx.settings.outbound_private_targets, caller, request.webhook_url)
    with ctx.db.transaction() as session:
        row, secret = channels.set_channels(session, ctx.clock, ctx.vault, principal=caller, request=request)
        return AlertChannelsOut(**channels.describe(row), webhook_secret=secret)


@router.get("/alert_channels", response_model=AlertChannelsOut)
def get_alert_channels(ctx: Ctx, caller: Caller) -> AlertChannelsOut:
    merchant_id = caller.require_merchant()
    with ctx.db.read() as session:
        return AlertChannelsOut(**channels.describe(channels.get_channels(session, merchant_id)))
