"""The dashboard's alerts, settlements and the accountant's downloads: monthly statements and tax summaries.

Alerts are the merchant's own in the key's mode (the operator sees every merchant's), newest first, each
acknowledged with one click (the service keeps the first acknowledgement). Settlements (platform
collection: what the platform owes and pays out, T+1, less its fee) and statements hold live money only,
so they are offered to a live key (as the API does) — as CSV or XLSX, the statement and its tax summary,
generated on request like ``GET /v1/statements/{month}`` (a draft while the month is open). The
transactions export (the payments page's form) is ``GET /v1/exports/transactions`` for the key's merchant
and mode, test data included.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.alerts import channels as alert_channels
from indiepay.alerts import service as alerts
from indiepay.alerts.schemas import AlertChannelsSet, alert_out
from indiepay.audit.service import actor_of
from indiepay.core.clock import business_day
from indiepay.core.errors import IndiePayError, InvalidRequest
from indiepay.dashboard.service import Signed
from indiepay.ledger import service as ledger
from indiepay.settlements import service as settlements
from indiepay.settlements.schemas import settlement_out
from indiepay.statements import exports, render
from indiepay.statements import service as statements
from indiepay.statements.api import merchant_scope, transactions_download
from indiepay.statements.tax import tax_summary
from indiepay.web.dashboard import HEADERS, PostedForm, check_form, ctx_of, failure, form_text, signed_in, to_login
from indiepay.web.dashboard import render as page
from indiepay.web.dashboard_pages import merchant_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)
KINDS = ("statement", "tax")
FORMATS = ("csv", "xlsx")


def _alerts_page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
                 secret: str | None = None) -> HTMLResponse:
    merchant_id, livemode = alerts.caller_scope(signed.principal)
    ctx = ctx_of(request)
    try:
        with ctx.db.read() as session:
            found = alerts.list_alerts(session, merchant_id=merchant_id, limit=50, livemode=livemode,
                                       starting_after=request.query_params.get("starting_after") or None)
            settings = None if merchant_id is None else alert_channels.describe(
                alert_channels.get_channels(session, merchant_id))
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return page(request, "alerts.html", signed, status_code=status_code, error=error, settings=settings,
                secret=secret, alerts=[alert_out(alert, deliveries) for alert, deliveries in found.alerts],
                has_more=found.has_more)


@router.get("/alerts", response_class=HTMLResponse, response_model=None)
def alerts_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    return _alerts_page(request, signed)


@router.post("/alerts/{alert_id}/acknowledge", response_model=None)
def acknowledge(alert_id: str, request: Request, form: PostedForm) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    ctx = ctx_of(request)
    merchant_id, livemode = alerts.caller_scope(signed.principal)
    try:
        check_form(signed, form)
        with ctx.db.transaction() as session:
            alerts.acknowledge(session, ctx.clock, alert_id, actor=actor_of(signed.principal), merchant_id=merchant_id,
                               livemode=livemode)
    except IndiePayError as exc:
        return _alerts_page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse("/dashboard/alerts", status_code=303, headers=HEADERS)


def _listed(form: Any, name: str) -> list[str]:
    """A text area of addresses, one per line or separated by commas or spaces."""
    return [item for item in re.split(r"[\s,;]+", form_text(form, name) or "") if item]


@router.post("/alerts/channels", response_model=None)
def set_alert_channels(request: Request, form: PostedForm) -> Response:
    """Where the merchant's alerts go — a webhook, e-mail addresses, phone numbers for SMS — replaced as a
    whole as ``PUT /v1/alert_channels`` does (the webhook's signing secret shown on this answer only). The
    live key only, as there: a test key's page shows the channels without the form, and a post is refused
    with ``livemode_required`` before the form is read."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        signed.principal.require_livemode("Where your alerts go")  # the service checks too: refuse before parsing
        if form_text(form, "channels_form") != "1":  # the page's own form, not a stray post of nothing
            raise InvalidRequest("the form is incomplete: reload the page", code="invalid_form")
        wanted = AlertChannelsSet(webhook_url=(form_text(form, "webhook_url") or "").strip() or None,
                                  webhook_enabled=form_text(form, "webhook_enabled") == "1",
                                  emails=_listed(form, "emails"), email_enabled=form_text(form, "email_enabled") == "1",
                                  phones=_listed(form, "phones"), sms_enabled=form_text(form, "sms_enabled") == "1",
                                  rotate_webhook_secret=form_text(form, "rotate_webhook_secret") == "1")
        alert_channels.check_webhook_url(ctx.settings.outbound_private_targets, signed.principal, wanted.webhook_url)
        with ctx.db.transaction() as session:
            _, secret = alert_channels.set_channels(
                session, ctx.clock, ctx.vault, principal=signed.principal,
                request=alert_channels.ChannelsInput(**wanted.model_dump()))
    except ValidationError:
        refusal = InvalidRequest("at most 50 e-mail addresses and 50 phone numbers; the URL at most 500 characters",
                                 code="invalid_alert_channels")
        return _alerts_page(request, signed, status_code=400, error=refusal)
    except IndiePayError as exc:
        return _alerts_page(request, signed, status_code=exc.http_status, error=exc)
    return _alerts_page(request, signed, secret=secret)


@router.get("/statements", response_class=HTMLResponse, response_model=None)
def statements_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    this_month = business_day(ctx_of(request).clock.now()).replace(day=1)
    months, month = [], this_month
    for _ in range(12):  # this month and the eleven before it
        months.append(f"{month:%Y-%m}")
        month = (month - timedelta(days=1)).replace(day=1)
    return page(request, "statements.html", signed, months=months)


@router.get("/statements/{month}/{kind}.{fmt}", response_model=None)
def download(month: str, kind: str, fmt: str, request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        if kind not in KINDS or fmt not in FORMATS:
            raise InvalidRequest("no such download", code="invalid_format", details={"kinds": list(KINDS),
                                                                                     "formats": list(FORMATS)})
        issued = statements.issue(ctx.db, ctx.clock, merchant_id=merchant_scope(signed.principal, None), month=month)
    except IndiePayError as exc:
        return failure(request, signed, exc)
    stamp = issued.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "statement":
        document = exports.statement_document(issued.body, status=issued.status, generated_at=stamp,
                                              sha256=issued.body_sha256)
    else:
        document = exports.tax_document(tax_summary(issued.body, status=issued.status,
                                                    statement_sha256=issued.body_sha256), generated_at=stamp)
    content, media_type, filename = render.document_file(document, fmt)
    return Response(content=content, media_type=media_type, headers={
        **HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


@router.get("/settlements", response_class=HTMLResponse, response_model=None)
def settlements_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    principal = signed.principal
    ctx = ctx_of(request)
    if not principal.is_admin and not principal.livemode:
        return page(request, "settlements.html", signed, settlements=[], has_more=False, live_only=True)
    merchant_id = None if principal.is_admin else principal.require_merchant()
    owed: int | None = None
    lines: list[tuple[ledger.EntryView, int]] = []
    try:
        with ctx.db.read() as session:
            found = settlements.list_settlements(
                session, merchant_id=merchant_id, business_date=None, limit=50,
                starting_after=request.query_params.get("starting_after") or None)
            if merchant_id is not None:  # the merchant's account with the platform
                owed = ledger.owed_to_merchant(session, merchant_id)
                lines = ledger.merchant_account_lines(session, merchant_id)
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return page(request, "settlements.html", signed, live_only=False, has_more=found.has_more,
                settlements=[settlement_out(batch.settlement, batch.payout) for batch in found.batches],
                owed=owed, lines=lines)


@router.get("/exports/transactions", response_model=None)
def export_transactions(request: Request) -> Response:
    """The payments page's export form: the same download as ``GET /v1/exports/transactions``, for the
    signed-in key's merchant and mode; a refusal (a span that is not one) on a page of its own."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    query = request.query_params
    try:
        download = transactions_download(ctx_of(request), signed.principal, None, query.get("from") or "",
                                         query.get("to") or "", query.get("format") or "csv")
    except IndiePayError as exc:
        return failure(request, signed, exc)
    download.headers.update({key: value for key, value in HEADERS.items() if key != "Content-Security-Policy"})
    return download
