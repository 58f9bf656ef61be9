"""The dashboard ``/dashboard``: server-rendered pages for the merchant and the operator, over the same
services as the API (nothing here decides anything the API would not).

Sign-in is with an API key, once per browser session (:mod:`indiepay.dashboard`): a merchant's test key shows
test data, its live key live data, the admin key the operator's pages; a read-only key may look but not act.
Failed sign-ins count against the same per-IP limiter as the API's and are audited like them. Every page
is ``no-store``, refuses framing and runs no script; every form carries the session's CSRF token (and the
cookie is ``SameSite=Strict``). Secrets never reach a page: accounts show fingerprints and last four only.

This module holds the frame (sign-in, rendering, forms, errors) and the operator's merchants page;
:mod:`.dashboard_overview` the front page, :mod:`.dashboard_pages` payments and reconciliation,
:mod:`.dashboard_accounts` channel accounts, :mod:`.dashboard_books` alerts, settlements and statements,
:mod:`.dashboard_webhooks` the webhook endpoint, :mod:`.dashboard_keys` API keys,
:mod:`.dashboard_collection` the collection mode and the advisor, :mod:`.dashboard_sharing` profit sharing,
:mod:`.dashboard_refunds` the refunds list, :mod:`.dashboard_transfers` bank transfers; the operator's
:mod:`.dashboard_operator` (one merchant in full, the audit log), :mod:`.dashboard_risk` (risk rules and
decisions), :mod:`.dashboard_platform` (the platform's own channel accounts) and :mod:`.dashboard_jobs`
(the job queue's dead jobs, requeued).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from indiepay.audit.context import current_origin
from indiepay.audit.service import actor_of, recent_auth_failures_over, record, record_auth_failure
from indiepay.context import ServiceContext
from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.errors import AuthenticationFailed, IndiePayError, InvalidRequest, PermissionDenied
from indiepay.core.money import fen_to_yuan
from indiepay.dashboard import service as sessions
from indiepay.idempotency.service import StoredResponse, request_hash, run_idempotent
from indiepay.merchants.auth import authenticate, key_label
from indiepay.merchants.schemas import MerchantCreate, MerchantOut
from indiepay.merchants.service import create_merchant, list_merchants
from indiepay.risk import service as kill_switch

router = APIRouter(prefix="/dashboard", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
HEADERS = {"Cache-Control": "no-store", "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
                                      "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}


async def posted_form(request: Request) -> FormData:
    """The posted form, read on the event loop so that the handler itself can run in the thread pool: the
    dashboard's actions call the services (and through them the channels — the sandbox gateways mounted in
    this very server among them), which must never block the loop.

    Raises:
        InvalidRequest (``invalid_characters``): a text field of a multipart form holds a NUL (the NUL guard
            reads URL-encoded bodies only; an uploaded file's bytes are its route's to judge).
    """
    form = await request.form()
    if any(isinstance(value, str) and "\x00" in value for _, value in form.multi_items()):
        raise InvalidRequest("the form holds a NUL character, which no field accepts", code="invalid_characters")
    return form


PostedForm = Annotated[FormData, Depends(posted_form)]


def ctx_of(request: Request) -> ServiceContext:
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def local(moment: datetime | None) -> str:
    """A stored instant as Beijing wall time, to the second."""
    if moment is None:
        return "—"
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def signed_in(request: Request) -> sessions.Signed | None:
    """The session behind the request's cookie, or None (not signed in, ended, or the key no longer works)."""
    ctx = ctx_of(request)
    with ctx.db.read() as session:
        try:
            return sessions.resolve(session, request.cookies.get(sessions.COOKIE), admin_key=ctx.settings.admin_key,
                                    now=ctx.clock.now())
        except AuthenticationFailed:
            return None


def to_login() -> RedirectResponse:
    return RedirectResponse("/dashboard/login", status_code=303, headers=HEADERS)


def render(request: Request, name: str, signed: sessions.Signed | None, status_code: int = 200,
           **values: Any) -> HTMLResponse:
    context = {"signed": signed, "principal": signed.principal if signed else None, "yuan": fen_to_yuan,
               "local": local, **values}
    return templates.TemplateResponse(request, f"dashboard/{name}", context, status_code=status_code,
                                      headers=HEADERS)


def failure(request: Request, signed: sessions.Signed, exc: IndiePayError) -> HTMLResponse:
    """An action the services refused: the refusal's code and message on a page of its own, with its 4xx."""
    return render(request, "error.html", signed, status_code=exc.http_status, error=exc)


def form_text(form: Mapping[str, Any], name: str) -> str | None:
    """A text field of a posted form (None when absent or a file)."""
    value = form.get(name)
    return value if isinstance(value, str) else None


def check_form(signed: sessions.Signed, form: Mapping[str, Any]) -> None:
    """A dashboard form may act: it carries the session's CSRF token and the key is not read-only.

    Raises:
        PermissionDenied: ``csrf_failed`` or ``read_only_key``.
    """
    if not sessions.csrf_ok(signed, form_text(form, "csrf")):
        raise PermissionDenied("the form expired or did not come from this dashboard: reload and try again",
                               code="csrf_failed")
    if signed.principal.read_only:
        raise PermissionDenied("this API key is read-only", code="read_only_key")


def new_form_no(prefix: str = "form") -> str:
    """A number for a form rendered once: sent twice (a double click, a reload), it names the same request."""
    return f"{prefix}{secrets.token_hex(12)}"


def once_per_form(ctx: ServiceContext, signed: sessions.Signed, form: Mapping[str, Any], *, path: str,
                  request_body: Mapping[str, Any], run: Callable[[], StoredResponse]) -> tuple[StoredResponse, bool]:
    """Run a form's action once per rendered form (its ``form_no``), as an ``Idempotency-Key`` runs an API
    request once: the second sending answers with what the first stored (an id, never a secret). Returns
    the answer and whether it ran now. ``request_body`` is only hashed (a re-sent number with other
    contents is ``idempotency_key_reused``). A form without a number runs as sent."""
    ran: list[bool] = []

    def first() -> StoredResponse:
        ran.append(True)
        return run()

    principal = signed.principal
    scope = "admin:dashboard" if principal.is_admin else f"{principal.merchant_id}:{principal.livemode}:dashboard"
    answer = run_idempotent(ctx, scope=scope, key=form_text(form, "form_no") or None,
                            fingerprint=request_hash("POST", path, dict(request_body)), run=first)
    return answer, bool(ran)


# -- sign-in -----------------------------------------------------------------------------------------


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> HTMLResponse:
    return render(request, "login.html", None)


@router.post("/login", response_model=None)
async def login(request: Request, api_key: str = Form(default="", max_length=200)) -> Response:
    ctx = ctx_of(request)
    if _cross_site(request):  # another site's page posting a key of its own: it would sign this browser in as
        # that site's merchant, where the victim might then type real channel credentials (login CSRF)
        return render(request, "login.html", None, status_code=403, error="Sign in from this page.")
    ip = request.client.host if request.client is not None else None
    current_origin.set(ip)
    raw = api_key.strip()
    label = key_label(raw) if raw else None
    limiter = ctx.principals.failures
    throttled = limiter.throttled(ip) or limiter.key_throttled(label)
    try:
        token = await run_in_threadpool(_sign_in, ctx, raw, ip, throttled)
    except AuthenticationFailed as exc:
        limiter.failed(ip, label)
        if throttled:  # refused, and not audited one by one: a guessing run is already on record
            return render(request, "login.html", None, status_code=429, error="Too many failed sign-ins: wait a "
                                                                                "minute and try again.")
        if await run_in_threadpool(record_auth_failure, ctx.db, ctx.clock, limiter.limits, origin=ip, label=label,
                                   actor=key_label(raw), details={"code": exc.code, "via": "dashboard"}):
            return render(request, "login.html", None, status_code=429, error="Too many failed sign-ins: wait a "
                                                                                "minute and try again.")
        return render(request, "login.html", None, status_code=401, error="That key did not sign you in.")
    response = RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
    response.set_cookie(sessions.COOKIE, token, max_age=int(sessions.LIFETIME.total_seconds()),
                        path="/dashboard", httponly=True, samesite="strict", secure=_served_over_https(request))
    return response


def _cross_site(request: Request) -> bool:
    """Whether a form post came from another site's page: the browser says so (``Sec-Fetch-Site``), or its
    ``Origin`` is not this server's. A client that sends neither (curl, a test) is not a browser page."""
    fetched = request.headers.get("sec-fetch-site")
    if fetched is not None and fetched not in ("same-origin", "none"):
        return True
    origin = request.headers.get("origin")
    if origin is None:
        return False
    if origin == "null":  # an opaque origin (a sandboxed frame, a data: page): not this server's page
        return True
    public = ctx_of(request).settings.public_url
    ours = {f"{request.url.scheme}://{request.url.netloc}"} | ({public.rstrip("/")} if public else set())
    return origin.rstrip("/") not in ours


def _served_over_https(request: Request) -> bool:
    """Whether the session cookie is marked ``Secure``: the request came over HTTPS, or the platform is
    published at an https address (TLS usually ends at a proxy, and the request reaches us as plain HTTP)."""
    public = ctx_of(request).settings.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def _sign_in(ctx: ServiceContext, raw: str, ip: str | None, throttled: bool) -> str:
    """Authenticate ``raw`` and open a session. Raises AuthenticationFailed (also for the admin key from an
    IP or with a label throttled here or in any other process: the same answer as a wrong key, so a guessing
    run learns nothing)."""
    with ctx.db.transaction() as session:
        principal = authenticate(session, raw, admin_key=ctx.settings.admin_key)
        if principal.is_admin and (throttled or recent_auth_failures_over(
                session, ctx.clock, ctx.principals.failures.limits, origin=ip, label=key_label(raw))):
            raise AuthenticationFailed("invalid API key", code="invalid_api_key")
        token = sessions.start(session, ctx.clock, principal, raw, origin=ip)
        record(session, ctx.clock, actor=actor_of(principal), action="dashboard.signed_in",
               merchant_id=principal.merchant_id, details={"key": key_label(raw), "livemode": principal.livemode},
               livemode=None if principal.is_admin else principal.livemode)
    return token


@router.post("/logout", response_model=None)
def logout(request: Request, form: PostedForm) -> Response:
    signed = signed_in(request)
    if signed is not None and sessions.csrf_ok(signed, form_text(form, "csrf")):
        ctx = ctx_of(request)
        with ctx.db.transaction() as session:
            sessions.end(session, ctx.clock, request.cookies.get(sessions.COOKIE))
    response = to_login()
    response.delete_cookie(sessions.COOKIE, path="/dashboard")
    return response


# -- the operator --------------------------------------------------------------------------------------


def merchants_page(request: Request, signed: sessions.Signed, status_code: int = 200,
                   error: IndiePayError | None = None, created: MerchantOut | None = None,
                   notice: str | None = None) -> HTMLResponse:
    """The operator's front page — and only the operator's: anyone else gets the refusal (``error``, or
    ``admin_required``) on a page of its own, never the list of merchants."""
    if not signed.principal.is_admin:
        return failure(request, signed, error or PermissionDenied("this page is the operator's",
                                                                   code="admin_required"))
    ctx = ctx_of(request)
    after = request.query_params.get("starting_after") or None
    with ctx.db.read() as session:
        try:
            page = list_merchants(session, status=None, kyc_status=None, collection_mode=None, limit=50,
                                  starting_after=after)
        except IndiePayError as exc:
            return failure(request, signed, exc)
    return render(request, "merchants.html", signed, status_code=status_code, merchants=page.data,
                  has_more=page.has_more, error=error, created=created, notice=notice, form_no=new_form_no("onboard"))


@router.post("/merchants", response_model=None)
def onboard(request: Request, form: PostedForm) -> Response:
    """The operator creates a merchant; its test and live keys are shown on this answer only. The form's
    number keys the creation (the idempotency store keeps the merchant's id, not its keys), so a form sent
    twice makes one merchant — the second answer names it without the keys."""
    signed = signed_in(request)
    if signed is None:
        return to_login()
    ctx = ctx_of(request)
    made: list[MerchantOut] = []
    try:
        check_form(signed, form)
        if not signed.principal.is_admin:
            raise PermissionDenied("only the operator onboards merchants", code="admin_required")
        try:
            body = MerchantCreate(name=form_text(form, "name") or "", short_name=form_text(form, "short_name") or "",
                                  subject_type=form_text(form, "subject_type"),
                                  contact_email=form_text(form, "contact_email") or None,
                                  collection_mode=form_text(form, "collection_mode") or "independent")
        except ValidationError as exc:
            raise InvalidRequest("name, short name and subject type are required; the email must be an email",
                                 code="invalid_merchant") from exc

        def create() -> StoredResponse:
            with ctx.db.transaction() as session:
                made.append(create_merchant(session, ctx.clock, body))
            return StoredResponse(201, {"id": made[0].id})

        answer, _ = once_per_form(ctx, signed, form, path="/dashboard/merchants",
                                  request_body=body.model_dump(mode="json"), run=create)
    except IndiePayError as exc:
        return merchants_page(request, signed, status_code=exc.http_status, error=exc)
    if made:
        return merchants_page(request, signed, created=made[0])
    return merchants_page(request, signed, notice=f"This form already created merchant {answer.body.get('id')}.")


@router.post("/merchants/{merchant_id}/{action}", response_model=None)
def switch_merchant(merchant_id: str, action: str, request: Request, form: PostedForm) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    reason = form.get("reason")
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        if action not in ("suspend", "resume"):
            raise PermissionDenied("unknown action", code="unknown_action")
        with ctx.db.transaction() as session:
            kill_switch.switch(session, ctx.clock, signed.principal, "merchant", merchant_id,
                               "suspend" if action == "suspend" else "resume",
                               reason if isinstance(reason, str) else "")
    except IndiePayError as exc:
        return merchants_page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
