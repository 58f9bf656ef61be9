"""The operator's page of the platform's own channel accounts: the ones platform collection routes to.

Under platform collection the buyers' money lands in accounts the platform holds at WeChat Pay, Alipay,
UnionPay or its bank, and the ledger owes it to the merchants; those accounts belong to no merchant
(``merchant_id`` is NULL), so no merchant's page shows them. This page lists them — channel, environment,
role, status, when each was verified, and each credential by its fingerprint and last four characters only —
connects one (a sandbox account in one click, the built-in gateway provisioning its credentials; or a
production account by typing in the channel's own fields, secret ones in password fields, as the merchant's
page does: :mod:`.dashboard_accounts`), and holds the account kill switch for each.

Nothing here decides anything the API would not: an account is connected through
:func:`indiepay.accounts.service.provision_sandbox_credentials` and
:func:`~indiepay.accounts.service.create_platform_account`, as ``POST /v1/platform/channel_accounts`` does
(the same validation and vault; audited there), listed through
:func:`~indiepay.accounts.service.list_platform_accounts`, and switched through
:func:`indiepay.risk.service.switch`, as ``POST /v1/channel_accounts/{id}/suspend|resume``. Typed-in
credentials are never written back into a page: a refused form comes back empty, with the reason.

Only the operator's session may use this page; any other gets ``admin_required`` (403).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from indiepay.accounts import service as accounts
from indiepay.channels.registry import CHANNELS
from indiepay.core.errors import IndiePayError, NotFound
from indiepay.dashboard.service import Signed
from indiepay.idempotency.service import StoredResponse
from indiepay.web.dashboard import HEADERS, PostedForm, ctx_of, failure, form_text, new_form_no, once_per_form, render
from indiepay.web.dashboard_accounts import CHANNEL_LABELS, connection_of
from indiepay.web.dashboard_accounts import credential_fields as channel_fields
from indiepay.web.dashboard_operator import operator_acting, operator_signed_in, switch_account_of

router = APIRouter(prefix="/dashboard", include_in_schema=False)

NOTICES = {"created": "The account is connected.",
           "repeated": "This form was sent before: its account is connected once, listed below.",
           "suspend": "The account is suspended.", "resume": "The account is resumed."}


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          channel: str | None = None) -> HTMLResponse:
    with ctx_of(request).db.read() as session:
        listed = [accounts.to_out(account) for account in accounts.list_platform_accounts(session, signed.principal)]
    chosen = channel if channel in CHANNELS else None
    notice = NOTICES.get(request.query_params.get("done") or "") if error is None else None
    return render(request, "platform_accounts.html", signed, status_code=status_code, error=error, notice=notice,
                  accounts=listed, channels=CHANNEL_LABELS, chosen=chosen,
                  fields=channel_fields(chosen) if chosen else [], form_no=new_form_no("pacct"))


@router.get("/platform_accounts", response_class=HTMLResponse, response_model=None)
def platform_accounts_page(request: Request) -> Response:
    signed = operator_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed, channel=request.query_params.get("connect"))


@router.post("/platform_accounts", response_model=None)
def connect(request: Request, form: PostedForm) -> Response:
    """Connect one of the platform's accounts: ``sandbox=1`` provisions a sandbox one at the built-in
    gateway; otherwise the channel's typed-in fields make a production one."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    channel = form_text(form, "channel") or ""
    try:
        body = connection_of(form, channel, "production")

        def run() -> StoredResponse:
            provisioned = accounts.provision_sandbox_credentials(ctx, channel, None) if body.sandbox else None
            with ctx.db.transaction() as session:
                made = accounts.create_platform_account(session, ctx, signed.principal, body, provisioned)
            return StoredResponse(201, {"id": made.id})

        _, ran = once_per_form(ctx, signed, form, path="/dashboard/platform_accounts", run=run, request_body={
            "channel": channel, "sandbox": body.sandbox, "role": body.role,
            "fields": sorted(body.credentials or {})})
    except IndiePayError as exc:  # the page comes back without what was typed: secrets are never echoed
        return _page(request, signed, status_code=exc.http_status, error=exc, channel=channel)
    return RedirectResponse(f"/dashboard/platform_accounts?done={'created' if ran else 'repeated'}", status_code=303,
                            headers=HEADERS)


@router.post("/platform_accounts/{account_id}/{action}", response_model=None)
def switch_account(account_id: str, action: str, request: Request, form: PostedForm) -> Response:
    """The account kill switch for one of the platform's accounts, with a reason (a merchant's account is
    switched from its merchant's page, not here: 404)."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    try:
        verb = switch_account_of(ctx_of(request), signed.principal, account_id, action, form_text(form, "reason"),
                                 owner=None)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/platform_accounts?done={verb}", status_code=303, headers=HEADERS)
