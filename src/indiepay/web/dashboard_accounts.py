"""The dashboard's channel accounts: the merchant's accounts in the key's mode, and connecting one.

A test key connects a sandbox account in one click (the built-in gateway provisions its credentials, as
``POST /v1/channel_accounts {"sandbox": true}``); either key connects an account by typing in the channel's
credentials (a live key: production; a test key: its own sandbox credentials). The fields are the
channel's own (:mod:`indiepay.channels.registry`), secret ones in password fields; they go through the
same validation and vault as the API, and are never written back into a page — a refused form comes back
empty, with the reason. Accounts show each credential by its last four characters only; each can be
verified from the page with a 0.01 test payment, and have its credentials replaced (a key rotated, a
certificate renewed before it expires) as ``PUT /v1/channel_accounts/{id}/credentials`` does: the old ones
keep verifying callbacks until the new ones pass a test payment or the grace window ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.accounts import rotation, verification
from indiepay.accounts.schemas import ChannelAccountCreate, CredentialsRotate
from indiepay.accounts.service import (
    create_account,
    get_account,
    list_accounts,
    provision_sandbox_credentials,
    to_out,
)
from indiepay.channels.registry import CHANNELS
from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound
from indiepay.dashboard.service import Signed
from indiepay.idempotency.service import StoredResponse
from indiepay.web.dashboard import (
    HEADERS,
    PostedForm,
    check_form,
    ctx_of,
    failure,
    form_text,
    new_form_no,
    once_per_form,
    render,
)
from indiepay.web.dashboard_pages import merchant_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)
CHANNEL_LABELS = {"wechatpay": "WeChat Pay 微信支付", "alipay": "Alipay 支付宝", "unionpay": "UnionPay 银联",
                  "bank_transfer": "Bank transfer 银行转账"}
NOTICES = {"repeated": "This form was sent before: its account is connected once, listed below.",
           "rotated": "The new credentials are in use. The old ones still verify the channel's callbacks until a "
                       "¥0.01 test payment passes with the new ones (verify below) or the grace window ends."}
LONG_ENDINGS = ("private_key", "public_key")  # PEM blocks (and certificates, a .pfx in base64): a text area


def credential_fields(channel: str) -> list[dict[str, object]]:
    """The fields a typed-in connection form asks for (the channel's required ones first), each marked
    long (a key or certificate: a text area) and secret (a password input, never echoed back); the
    merchant's accounts page and the operator's platform accounts page share them."""
    spec = CHANNELS[channel]
    names = sorted(spec.required_fields) + sorted(spec.optional_fields - spec.required_fields)
    fields: list[dict[str, object]] = []
    for name in names:
        long = name.endswith(LONG_ENDINGS) or "cert" in name or name == "sign_pfx"
        fields.append({"name": name, "required": name in spec.required_fields, "long": long,
                       "secret": name in spec.secret_fields or "password" in name})
    return fields


def connection_of(form: Mapping[str, Any], channel: str, environment: str) -> ChannelAccountCreate:
    """The account a connection form asks for: ``sandbox=1`` (a sandbox account provisioned at the
    built-in gateway), or the channel's typed-in fields (blank ones left out) for an account in
    ``environment``; the role primary unless backup is chosen.

    Raises:
        InvalidRequest: ``invalid_channel``, ``invalid_account``.
    """
    if channel not in CHANNELS:
        raise InvalidRequest("choose a channel", code="invalid_channel")
    sandbox = form_text(form, "sandbox") == "1"
    credentials = None if sandbox else {
        str(field["name"]): value.strip() for field in credential_fields(channel)
        if (value := form_text(form, str(field["name"])) or "").strip()}
    try:
        return ChannelAccountCreate(channel=channel, sandbox=sandbox, credentials=credentials,
                                    environment=None if sandbox else environment,
                                    role="backup" if form_text(form, "role") == "backup" else "primary")
    except ValidationError as exc:
        raise InvalidRequest("this account cannot be connected as given", code="invalid_account") from exc


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          channel: str | None = None) -> HTMLResponse:
    with ctx_of(request).db.read() as session:
        accounts = [to_out(account) for account in list_accounts(session, signed.principal)]
    chosen = channel if channel in CHANNELS else None
    notice = NOTICES.get(request.query_params.get("done") or "") if error is None else None
    return render(request, "accounts.html", signed, status_code=status_code, error=error, notice=notice,
                  accounts=accounts, channels=CHANNEL_LABELS, chosen=chosen, form_no=new_form_no("acct"),
                  fields=credential_fields(chosen) if chosen else [])


@router.get("/accounts", response_class=HTMLResponse, response_model=None)
def accounts_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed, channel=request.query_params.get("connect"))


@router.post("/accounts", response_model=None)
def connect(request: Request, form: PostedForm) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    principal = signed.principal
    channel = form_text(form, "channel") or ""
    try:
        check_form(signed, form)
        body = connection_of(form, channel, "production" if principal.livemode else "sandbox")

        def run() -> StoredResponse:
            provisioned = provision_sandbox_credentials(ctx, channel, None) if body.sandbox and not principal.livemode \
                else None
            with ctx.db.transaction() as session:
                return StoredResponse(201, {"id": create_account(session, ctx, principal, body, provisioned).id})

        # once per rendered form: a double click connects one account (the credentials' names are hashed
        # with the form's number, never their values)
        _, ran = once_per_form(ctx, signed, form, path="/dashboard/accounts", run=run, request_body={
            "channel": channel, "sandbox": body.sandbox, "role": body.role,
            "fields": sorted(body.credentials or {})})
    except IndiePayError as exc:  # the page comes back without what was typed: secrets are never echoed
        return _page(request, signed, status_code=exc.http_status, error=exc, channel=channel)
    return RedirectResponse("/dashboard/accounts" if ran else "/dashboard/accounts?done=repeated", status_code=303,
                            headers=HEADERS)


@router.post("/accounts/{account_id}/verification", response_model=None)
def verify(account_id: str, request: Request, form: PostedForm) -> Response:
    """Start the account's 0.01 test payment and open it: its checkout shows the QR code the merchant pays
    with a real wallet; once paid it is refunded and the account marked verified
    (:mod:`indiepay.accounts.verification`)."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        payment = verification.start(ctx_of(request), signed.principal, account_id)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/payments/{payment.id}", status_code=303, headers=HEADERS)


def _credentials_page(request: Request, signed: Signed, account_id: str, status_code: int = 200,
                      error: IndiePayError | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    try:
        with ctx.db.read() as session:
            account = to_out(get_account(session, signed.principal, account_id))
        if account.channel not in CHANNELS or account.channel == "bank_transfer":
            raise NotFound("this account has no credentials to replace", code="account_not_found")
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return render(request, "credentials.html", signed, status_code=status_code, error=error, account=account,
                  fields=credential_fields(account.channel), grace_hours=ctx.settings.credential_grace_hours)


@router.get("/accounts/{account_id}/credentials", response_class=HTMLResponse, response_model=None)
def credentials_page(account_id: str, request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _credentials_page(request, signed, account_id)


@router.post("/accounts/{account_id}/credentials", response_model=None)
def rotate(account_id: str, request: Request, form: PostedForm) -> Response:
    """Replace the account's credentials with the typed-in set (never written back into the page)."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        with ctx.db.read() as session:
            channel = get_account(session, signed.principal, account_id).channel
        typed = {str(field["name"]): value.strip() for field in credential_fields(channel) if channel in CHANNELS
                 if (value := form_text(form, str(field["name"])) or "").strip()}
        with ctx.db.transaction() as session:
            rotation.rotate_credentials(session, ctx, signed.principal, account_id,
                                        CredentialsRotate(credentials=typed))
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _credentials_page(request, signed, account_id, status_code=exc.http_status, error=exc)
    return RedirectResponse("/dashboard/accounts?done=rotated", status_code=303, headers=HEADERS)
