"""The dashboard's API keys: the merchant's keys of the signed-in mode (prefix and last four only), a
further read-only key for a reporting tool, and rolling the key signed in with — each new key shown this
once, as the API answers it. Rolling leaves the old key (and this session) working for 24 hours, so the
shop's servers can switch over."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from indiepay.core.errors import IndiePayError, InvalidRequest
from indiepay.dashboard.service import Signed
from indiepay.merchants import api_keys
from indiepay.merchants.schemas import ApiKeyCreate, ApiKeyOut
from indiepay.web.dashboard import PostedForm, check_form, ctx_of, render
from indiepay.web.dashboard_pages import merchant_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)
ROLL_GRACE_SECONDS = 24 * 3600


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          new_key: ApiKeyOut | None = None) -> HTMLResponse:
    with ctx_of(request).db.read() as session:
        keys = api_keys.list_keys(session, signed.principal)
    return render(request, "keys.html", signed, status_code=status_code, error=error, keys=keys, new_key=new_key,
                  current=signed.principal.key_id)


@router.get("/keys", response_class=HTMLResponse, response_model=None)
def keys_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


@router.post("/keys", response_model=None)
def make_key(request: Request, form: PostedForm) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    principal = signed.principal
    try:
        check_form(signed, form)
        action = form.get("action")
        if action not in ("roll", "read_only"):
            raise InvalidRequest("the form asks for a read-only key or a roll, nothing else", code="unknown_action")
        with ctx.db.transaction() as session:
            if action == "roll":
                made = api_keys.roll(session, ctx.clock, principal, ROLL_GRACE_SECONDS)
            else:
                made = api_keys.create(session, ctx.clock, principal, ApiKeyCreate(
                    mode="live" if principal.livemode else "test", read_only=True))
        ctx.principals.clear()
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return _page(request, signed, new_key=made)
