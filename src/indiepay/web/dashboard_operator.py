"""The operator's pages in the dashboard: one merchant in full, and the audit log.

The operator's front page (:func:`.dashboard.merchants_page`) lists the merchants and holds the merchant
kill switch. Running the platform also takes one merchant's whole picture in one place — its facts and
limits, its channel accounts of both environments (each with the account kill switch), what the platform
owes it, its latest settlements, how its collection mode changed and what the advisor says over its live
data — a way to correct its profile (KYC, fees, limits) without hand-written API calls, and the audit log,
to see who did what and that no one has rewritten it.

Nothing here decides anything the API would not: the profile goes through
:func:`indiepay.merchants.service.update_merchant` as ``PATCH /v1/merchants/{id}`` does (only the fields the
form sends change; an empty limit clears it to the subject type's default; audited there), the switch through
:func:`indiepay.risk.service.switch` as ``POST /v1/channel_accounts/{id}/suspend|resume``, the log through
:func:`indiepay.audit.service.list_events` and :func:`~indiepay.audit.service.verify`.

Only the operator's session may use these pages; any other gets ``admin_required`` (403). Accounts show
their credentials' fingerprints and last four characters only, never a secret.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.accounts import service as accounts
from indiepay.advisor import service as advisor
from indiepay.audit import service as audit
from indiepay.context import ServiceContext
from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound, PermissionDenied
from indiepay.core.money import yuan_to_fen
from indiepay.dashboard.service import Signed
from indiepay.idempotency.service import StoredResponse
from indiepay.ledger import service as ledger
from indiepay.merchants import api_keys, collection_mode
from indiepay.merchants import service as merchants
from indiepay.merchants.auth import Principal
from indiepay.merchants.schemas import ApiKeyIssue, ApiKeyOut, MerchantUpdate
from indiepay.payments.service import list_payments
from indiepay.risk import service as kill_switch
from indiepay.settlements import service as settlements
from indiepay.settlements.schemas import settlement_out
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
    signed_in,
    to_login,
)

router = APIRouter(prefix="/dashboard", include_in_schema=False)

AUDIT_PAGE = 100
PAYMENTS_SHOWN = 20  # the merchant's latest live payments, or the one a buyer's order number names
FILTER = re.compile(r"[A-Za-z0-9_.:-]{1,64}")  # an id or a dotted action name; anything else names nothing
YUAN = re.compile(r"\d{1,15}(\.\d{1,6})?")  # a plain decimal (no exponent): well inside the BIGINT fen columns
FIELD_CODES = {"name": "invalid_name", "short_name": "invalid_name", "subject_type": "invalid_subject_type",
               "kyc_status": "invalid_kyc_status", "platform_fee_bps": "invalid_fee", "tech_fee_bps": "invalid_fee",
               "single_limit": "invalid_amount", "daily_limit": "invalid_amount"}
NOTICES = {"profile": "The merchant's profile is saved.", "suspend": "The account is suspended.",
           "resume": "The account is resumed."}


def _not_operator() -> PermissionDenied:
    return PermissionDenied("these pages are the operator's", code="admin_required")


def operator_signed_in(request: Request) -> Signed | Response:
    """The operator's session, or where to go instead: the sign-in page, or the refusal."""
    signed = signed_in(request)
    if signed is None:
        return to_login()
    if not signed.principal.is_admin:
        return failure(request, signed, _not_operator())
    return signed


def operator_acting(request: Request, form: PostedForm) -> Signed | Response:
    """:func:`operator_signed_in` for a form: its CSRF token is checked first, then who sent it."""
    signed = signed_in(request)
    if signed is None:
        return to_login()
    try:
        check_form(signed, form)
        if not signed.principal.is_admin:
            raise _not_operator()
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return signed


def _owner(merchant_id: str, livemode: bool) -> Principal:
    """The merchant as its own key of one mode sees itself: the accounts listing is scoped that way."""
    return Principal(role="merchant", merchant_id=merchant_id, livemode=livemode)


# -- one merchant -------------------------------------------------------------------------------------


def _merchant_page(request: Request, signed: Signed, merchant_id: str, status_code: int = 200,
                   error: IndiePayError | None = None, issued: ApiKeyOut | None = None,
                   notice: str | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    try:
        with ctx.db.read() as session:
            merchant = merchants.to_out(merchants.get_merchant(session, signed.principal, merchant_id))
            channel_accounts = [accounts.to_out(account) for livemode in (False, True)
                                for account in accounts.list_accounts(session, _owner(merchant_id, livemode))]
            balances = ledger.balances(session, merchant_id)
            owed = ledger.owed_to_merchant(session, merchant_id)
            batches = settlements.list_settlements(session, merchant_id=merchant_id, limit=10).batches
            changes = collection_mode.history(session, signed.principal, merchant_id)
            advice = advisor.to_out(advisor.advise(session, ctx.clock, merchant_id, livemode=True))
            order_no = (request.query_params.get("out_trade_no") or "").strip() or None
            latest = list_payments(session, ctx, _owner(merchant_id, True), status=None, out_trade_no=order_no,
                                   limit=PAYMENTS_SHOWN, starting_after=None).data
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return render(request, "merchant.html", signed, status_code=status_code, error=error,
                  notice=notice or (NOTICES.get(request.query_params.get("done") or "") if error is None else None),
                  issued=issued, key_form_no=new_form_no("key"), merchant=merchant, accounts=channel_accounts,
                  balances=balances, owed=owed,
                  settlements=[settlement_out(b.settlement, b.payout) for b in batches],
                  changes=list(reversed(changes)), advice=advice, payments=latest, out_trade_no=order_no or "")


@router.get("/merchants/{merchant_id}", response_class=HTMLResponse, response_model=None)
def merchant_page(merchant_id: str, request: Request) -> Response:
    signed = operator_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _merchant_page(request, signed, merchant_id)


def _bps(name: str, text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and len(value) <= 5):
        raise InvalidRequest("a fee is a whole number of basis points, 0 to 10000 (100 = 1 %)",
                             code="invalid_fee", details={"field": name})
    return int(value)


def _fen(name: str, text: str) -> int | None:
    """A limit typed in yuan, in fen; empty: None, which clears it to the subject type's default."""
    value = text.strip()
    if not value:
        return None
    if not YUAN.fullmatch(value):
        raise InvalidRequest("a limit is an amount of yuan such as 5000 or 5000.50, or empty for the default",
                             code="invalid_amount", details={"field": name})
    try:
        return yuan_to_fen(value)
    except InvalidRequest as exc:
        raise InvalidRequest(exc.message, code=exc.code, details={"field": name}) from exc


def _update_of(form: Mapping[str, Any]) -> MerchantUpdate:
    """The changes a profile form asks for: only the fields it sends.

    Raises:
        InvalidRequest: a field's code from ``FIELD_CODES``, with ``details.field``.
    """
    values: dict[str, Any] = {}
    for name in ("name", "short_name", "subject_type", "kyc_status"):
        if (text := form_text(form, name)) is not None:
            if any(ord(char) < 32 or ord(char) == 127 for char in text):  # a NUL is refused by PostgreSQL itself
                raise InvalidRequest(f"{name} cannot hold control characters", code=FIELD_CODES[name],
                                     details={"field": name})
            values[name] = text
    for name in ("platform_fee_bps", "tech_fee_bps"):
        if (text := form_text(form, name)) is not None:
            values[name] = _bps(name, text)
    for name in ("single_limit", "daily_limit"):
        if (text := form_text(form, name)) is not None:
            values[name] = _fen(name, text)
    try:
        return MerchantUpdate(**values)
    except ValidationError as exc:
        loc = exc.errors()[0].get("loc", ())
        name = str(loc[0]) if loc else ""
        raise InvalidRequest(f"{name or 'the form'} is not valid: {exc.errors()[0].get('msg', '')}",
                             code=FIELD_CODES.get(name, "invalid_request"), details={"field": name}) from exc


@router.post("/merchants/{merchant_id}/profile", response_model=None)
def edit_profile(merchant_id: str, request: Request, form: PostedForm) -> Response:
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    try:
        body = _update_of(form)
        with ctx.db.transaction() as session:
            merchants.update_merchant(session, ctx.clock, signed.principal, merchant_id, body)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _merchant_page(request, signed, merchant_id, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/merchants/{merchant_id}?done=profile", status_code=303, headers=HEADERS)


@router.post("/merchants/{merchant_id}/api_keys", response_model=None)
def issue_key(merchant_id: str, request: Request, form: PostedForm) -> Response:
    """A new key for the merchant (shown on the answering page, once), the others of its mode revoked unless
    the box is cleared: once per rendered form, so a double click never revokes the key just shown."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    issued: list[ApiKeyOut] = []
    try:
        mode = form_text(form, "mode")
        if mode not in ("test", "live"):
            raise InvalidRequest("choose the key's mode: test or live", code="invalid_mode", details={"field": "mode"})
        body = ApiKeyIssue(mode=mode, revoke_existing=form_text(form, "revoke_existing") == "1")

        def run() -> StoredResponse:
            with ctx.db.transaction() as session:
                issued.append(api_keys.issue(session, ctx.clock, signed.principal, merchant_id, body))
            return StoredResponse(201, {"id": issued[0].id})

        answer, _ = once_per_form(ctx, signed, form, path=f"/dashboard/merchants/{merchant_id}/api_keys",
                                  request_body=body.model_dump(mode="json"), run=run)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _merchant_page(request, signed, merchant_id, status_code=exc.http_status, error=exc)
    ctx.principals.clear()
    if not issued:
        return _merchant_page(request, signed, merchant_id,
                              notice=f"This form already issued key {answer.body.get('id')}; it is not shown again.")
    return _merchant_page(request, signed, merchant_id, issued=issued[0])


@router.post("/merchants/{merchant_id}/accounts/{account_id}/{action}", response_model=None)
def switch_account(merchant_id: str, account_id: str, action: str, request: Request, form: PostedForm) -> Response:
    """The account kill switch: suspend or resume one of the merchant's channel accounts, with a reason."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    try:
        verb = switch_account_of(ctx_of(request), signed.principal, account_id, action, form_text(form, "reason"),
                                 owner=merchant_id)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _merchant_page(request, signed, merchant_id, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/merchants/{merchant_id}?done={verb}", status_code=303, headers=HEADERS)


def switch_account_of(ctx: ServiceContext, principal: Principal, account_id: str, action: str, reason: str | None,
                      *, owner: str | None) -> kill_switch.Action:
    """The account kill switch from an operator's page: ``action`` (suspend | resume) on an account of
    ``owner`` (a merchant's id, or None for the platform's own), with the reason the form gave.

    Raises:
        NotFound (``unknown_action``, ``account_not_found``: no such account, or not ``owner``'s), and what
        :func:`indiepay.risk.service.switch` raises (``reason_required``).
    """
    if action not in ("suspend", "resume"):
        raise NotFound("an account is suspended or resumed, nothing else", code="unknown_action")
    verb: kill_switch.Action = "suspend" if action == "suspend" else "resume"
    with ctx.db.transaction() as session:
        account = accounts.get_account(session, principal, account_id)
        if account.merchant_id != owner:
            raise NotFound("no such channel account", code="account_not_found")
        kill_switch.switch(session, ctx.clock, principal, "account", account_id, verb, reason or "")
    return verb


# -- the audit log ------------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse, response_model=None)
def audit_page(request: Request) -> Response:
    """The latest events, newest first (optionally one merchant's, or one action's), and — when asked
    (``?verify=1``) — whether the hash chain still holds. The check walks the whole chain, five years of it
    in a live platform, so it runs when the operator asks for it rather than on every view of the page."""
    signed = operator_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    merchant_id = request.query_params.get("merchant_id") or None
    action = request.query_params.get("action") or None
    try:
        for name, value in (("merchant_id", merchant_id), ("action", action)):
            if value is not None and not FILTER.fullmatch(value):
                raise InvalidRequest(f"{name} is an id or an action name such as account.suspended",
                                     code="invalid_filter", details={"param": name})
        with ctx.db.read() as session:
            events = audit.list_events(session, signed.principal, limit=AUDIT_PAGE, action=action,
                                       merchant_id=merchant_id, newest_first=True)
            chain = audit.verify(session) if request.query_params.get("verify") == "1" else None
    except IndiePayError as exc:
        return failure(request, signed, exc)
    return render(request, "audit.html", signed, events=events, chain=chain, merchant_id=merchant_id,
                  action=action, page=AUDIT_PAGE)
