"""The dashboard's webhook page: the endpoint of the key's mode (set or replaced from the page, its new
signing secret shown once, as ``PUT /v1/webhook_endpoint`` answers it), the latest events with whether
they reached the endpoint (each can be sent again), and the latest delivery attempts with their answers."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound
from indiepay.dashboard.service import Signed
from indiepay.web.dashboard import HEADERS, PostedForm, check_form, ctx_of, failure, form_text, render
from indiepay.web.dashboard_pages import merchant_signed_in
from indiepay.webhooks import service as webhooks
from indiepay.webhooks.schemas import WebhookEndpointSet

router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          secret: str | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    principal = signed.principal
    with ctx.db.read() as session:
        try:
            url: str | None = webhooks.get_endpoint(session, principal).url
        except NotFound:
            url = None
        events = webhooks.list_events(session, principal, type_=None, delivered=None, limit=20, starting_after=None,
                                      created_gte=None, created_lt=None).data
        deliveries = webhooks.list_deliveries(session, principal, limit=20)
    return render(request, "webhooks.html", signed, status_code=status_code, error=error, url=url, events=events,
                  deliveries=deliveries, secret=secret)


@router.get("/webhooks", response_class=HTMLResponse, response_model=None)
def webhooks_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


@router.post("/webhooks", response_model=None)
def set_endpoint(request: Request, form: PostedForm) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        try:
            body = WebhookEndpointSet(url=(form_text(form, "url") or "").strip())
        except ValidationError as exc:
            raise InvalidRequest("the URL must start with http:// or https:// and have no spaces",
                                 code="invalid_url") from exc
        webhooks.check_url(ctx, signed.principal, body.url)
        with ctx.db.transaction() as session:
            _, secret = webhooks.set_endpoint(session, ctx, signed.principal, body.url)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return _page(request, signed, secret=secret)


@router.post("/webhooks/events/{event_id}/redeliver", response_model=None)
def redeliver(event_id: str, request: Request, form: PostedForm) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        with ctx.db.transaction() as session:
            webhooks.redeliver(session, ctx, signed.principal, event_id)
        ctx.wake_worker()
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse("/dashboard/webhooks", status_code=303, headers=HEADERS)
