"""The merchant's dashboard pages: payments (and refunding one), reconciliation runs and their differences
(resolving one). The frame — sign-in, rendering, CSRF — is :mod:`.dashboard`; every
read and every action goes through the same service as the API, scoped to the signed-in key's merchant and
mode, so another merchant's payment is a 404 here as there.

A refund form carries a number made when the page was rendered, used as the refund's ``out_refund_no``: the
same form sent twice (a double click, a reload) asks for the same refund, which the service refuses the
second time rather than refunding twice.
"""

from __future__ import annotations

import secrets
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from indiepay.accounts.service import list_accounts
from indiepay.audit.service import actor_of
from indiepay.channels.base import ChannelMethod
from indiepay.core.clock import business_day
from indiepay.core.errors import Conflict, IndiePayError, InvalidRequest, NotFound
from indiepay.core.money import yuan_to_fen
from indiepay.dashboard.service import Signed
from indiepay.merchants.auth import Principal
from indiepay.payments import repository as payment_repository
from indiepay.payments.schemas import PaymentCreate
from indiepay.payments.service import close_payment, create_payment, get_payment, list_payments
from indiepay.payments.service import to_out as payment_out
from indiepay.reconciliation import repository as runs_repository
from indiepay.reconciliation import resolution
from indiepay.reconciliation.models import ReconciliationRun
from indiepay.refunds.schemas import RefundCreate
from indiepay.refunds.service import create_refund, list_refunds
from indiepay.sharing import receivers as sharing_receivers
from indiepay.sharing import rules as sharing_rules
from indiepay.sharing import service as sharing
from indiepay.web.dashboard import HEADERS, PostedForm, check_form, ctx_of, failure, render, signed_in, to_login

router = APIRouter(prefix="/dashboard", include_in_schema=False)
STATUSES = ("pending", "succeeded", "closed", "failed")
LINK_METHODS = {"wechatpay": ("wechat_native", "微信支付 WeChat Pay"), "alipay": ("alipay_qr", "支付宝 Alipay"),
                "unionpay": ("unionpay_qr", "银联 UnionPay"),
                "bank_transfer": ("bank_transfer", "银行转账 Bank transfer")}
"""The methods a payment link can use: a QR code or a transfer, nothing that needs the buyer's details."""


def merchant_signed_in(request: Request) -> Signed | Response:
    """The merchant's session, or where to go instead: the sign-in page, or (the operator, who has no
    payments of its own) the operator's front page."""
    signed = signed_in(request)
    if signed is None:
        return to_login()
    if signed.principal.is_admin:
        return RedirectResponse("/dashboard", status_code=303, headers=HEADERS)
    return signed


def _text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# -- payments ------------------------------------------------------------------------------------------


def _payments_page(request: Request, signed: Signed, status_code: int = 200,
                   error: IndiePayError | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    query = request.query_params
    status = query.get("status") or None
    out_trade_no = query.get("out_trade_no") or None
    try:
        with ctx.db.read() as session:
            page = list_payments(session, ctx, signed.principal, status=status, out_trade_no=out_trade_no, limit=50,
                                 starting_after=query.get("starting_after") or None)
            channels = {account.channel for account in list_accounts(session, signed.principal)
                        if account.status == "active"}
    except IndiePayError as exc:
        return failure(request, signed, exc)
    methods = {method: label for channel, (method, label) in LINK_METHODS.items() if channel in channels}
    today = business_day(ctx.clock.now())
    return render(request, "payments.html", signed, status_code=status_code, error=error, payments=page.data,
                  has_more=page.has_more, status=status or "", out_trade_no=out_trade_no or "", statuses=STATUSES,
                  methods=methods, form_no=f"dash{secrets.token_hex(12)}", today=today.isoformat(),
                  month_start=today.replace(day=1).isoformat())


@router.get("/payments", response_class=HTMLResponse, response_model=None)
def payments_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _payments_page(request, signed)


@router.post("/payments", response_model=None)
def create_link(request: Request, form: PostedForm) -> Response:
    """A payment made from the dashboard — a link the merchant shares (the hosted checkout), for a sale
    outside its shop. The form's number is the order number, so a form sent twice makes one payment."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    number = _text(form, "form_no")
    try:
        check_form(signed, form)
        amount = yuan_to_fen(_text(form, "amount"))
        method = _text(form, "method")
        if amount <= 0 or method not in {method for method, _ in LINK_METHODS.values()}:
            raise InvalidRequest("give an amount above 0 and one of your channels", code="invalid_payment")
        try:
            body = PaymentCreate(amount=amount, currency="CNY", out_trade_no=number, method=ChannelMethod(method),
                                 description=_text(form, "description")[:127] or "Payment",
                                 profit_sharing=_text(form, "profit_sharing") == "1")
        except ValidationError as exc:
            raise InvalidRequest("the form is incomplete: reload the page", code="invalid_form") from exc
        created = create_payment(ctx, signed.principal, body)
    except Conflict as exc:
        if exc.code != "duplicate_out_trade_no":
            return _payments_page(request, signed, status_code=exc.http_status, error=exc)
        with ctx.db.read() as session:  # this very form was sent before: that payment stands
            earlier = payment_repository.get_by_out_trade_no(session, signed.principal.require_merchant(),
                                                             signed.principal.livemode, number)
        if earlier is None:
            return _payments_page(request, signed, status_code=exc.http_status, error=exc)
        return RedirectResponse(f"/dashboard/payments/{earlier.id}", status_code=303, headers=HEADERS)
    except IndiePayError as exc:
        return _payments_page(request, signed, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/payments/{created.id}", status_code=303, headers=HEADERS)


def payment_view(request: Request, signed: Signed, payment_id: str, status_code: int = 200,
                 error: IndiePayError | None = None, notice: str | None = None) -> HTMLResponse:
    """A payment's page — its refunds, its shares (:mod:`.dashboard_sharing`) and the forms for both — as the
    answer to viewing it or to any action taken from it."""
    ctx = ctx_of(request)
    try:
        with ctx.db.read() as session:
            found = get_payment(session, ctx, signed.principal, payment_id)
            payment = payment_out(ctx, found)
            refunds = list_refunds(session, signed.principal, payment_id=payment_id, status=None, out_refund_no=None,
                                   limit=100, starting_after=None).data
            # profit sharing: the payment's orders, its account's receivers, what may still be shared
            shares = sharing.list_orders(session, signed.principal, payment_id=payment_id, status=None, limit=50,
                                         starting_after=None).data
            receivers = {r.id: r for r in sharing_receivers.list_receivers(
                session, signed.principal, channel_account_id=found.channel_account_id, status=None, limit=100,
                starting_after=None).data}
            shareable = sharing_rules.shareable(found.amount, found.refund_reserved, found.shared_reserved)
            sharing_finished = found.sharing_finished
    except IndiePayError as exc:
        return failure(request, signed, exc)
    processing = sum(refund.amount for refund in refunds if refund.status == "processing")  # reserved already
    refundable = max(payment.amount - payment.refunded_amount - payment.shared_amount - processing, 0)
    return render(request, "payment.html", signed, status_code=status_code, payment=payment, refunds=refunds,
                  refundable=refundable, form_no=f"dash{secrets.token_hex(12)}", error=error, notice=notice,
                  shares=shares, receivers=receivers, shareable=shareable, sharing_finished=sharing_finished)


@router.get("/payments/{payment_id}", response_class=HTMLResponse, response_model=None)
def payment_page(payment_id: str, request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return payment_view(request, signed, payment_id)


def _refund_body(payment_id: str, form: Any) -> RefundCreate:
    """The refund a form asks for. Raises InvalidRequest (``invalid_amount``, ``invalid_form``)."""
    amount = yuan_to_fen(_text(form, "amount"))  # InvalidRequest for anything but yuan with ≤ 2 decimals
    if amount <= 0:
        raise InvalidRequest("the amount must be more than 0", code="invalid_amount")
    number = _text(form, "form_no")
    if not (number.startswith("dash") and number.isalnum() and len(number) <= 32):
        raise InvalidRequest("the form is incomplete: reload the page", code="invalid_form")
    try:
        return RefundCreate(payment_id=payment_id, amount=amount, reason=_text(form, "reason")[:80] or None,
                            out_refund_no=number)
    except ValidationError as exc:
        raise InvalidRequest("this refund cannot be asked for", code="invalid_form") from exc


@router.post("/payments/{payment_id}/refunds", response_model=None)
def refund_payment(payment_id: str, request: Request, form: PostedForm) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    ctx = ctx_of(request)
    try:
        check_form(signed, form)
        refund = create_refund(ctx, signed.principal, _refund_body(payment_id, form))
    except Conflict as exc:
        if exc.code == "duplicate_out_refund_no":  # this very form was sent before: that refund stands
            return payment_view(request, signed, payment_id, notice="This refund was already asked for.")
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, payment_id, notice=f"Refund {refund.id} asked for: {refund.status}.")


@router.post("/payments/{payment_id}/close", response_model=None)
def close(payment_id: str, request: Request, form: PostedForm) -> Response:
    """Close a pending payment (at the channel first, as the API does); one the buyer has paid meanwhile is
    recorded as succeeded and the page says so."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        closed = close_payment(ctx_of(request), signed.principal, payment_id)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, payment_id, notice=f"Payment {closed.status}.")


# -- reconciliation ------------------------------------------------------------------------------------


def _visible(request: Request, principal: Principal) -> list[str] | None:
    with ctx_of(request).db.read() as session:
        return resolution.visible_accounts(session, principal)


@router.get("/reconciliation", response_class=HTMLResponse, response_model=None)
def runs_page(request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    visible = _visible(request, signed.principal)
    with ctx_of(request).db.read() as session:
        runs = runs_repository.runs(session, account_ids=visible, day=None, limit=60)
    return render(request, "runs.html", signed, runs=runs)


def _run_page(request: Request, signed: Signed, run_id: str, status_code: int = 200,
              error: IndiePayError | None = None) -> HTMLResponse:
    visible = _visible(request, signed.principal)
    with ctx_of(request).db.read() as session:
        run = session.get(ReconciliationRun, run_id)
        if run is None or (visible is not None and run.account_id not in visible):
            return failure(request, signed, NotFound(f"no reconciliation run {run_id}",
                                                     code="reconciliation_run_not_found"))
        differences = runs_repository.run_differences(session, [run.id])[run.id]
    return render(request, "run.html", signed, status_code=status_code, run=run, differences=differences,
                  error=error)


@router.get("/reconciliation/{run_id}", response_class=HTMLResponse, response_model=None)
def run_page(run_id: str, request: Request) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    return _run_page(request, signed, run_id)


@router.post("/reconciliation/{run_id}/differences/{difference_id}", response_model=None)
def resolve_difference(run_id: str, difference_id: str, request: Request, form: PostedForm) -> Response:
    signed = signed_in(request)
    if signed is None:
        return to_login()
    ctx = ctx_of(request)
    principal = signed.principal
    try:
        check_form(signed, form)
        action, note = _text(form, "action"), _text(form, "note")
        if action not in ("resolve", "ignore"):
            raise InvalidRequest("choose resolve or ignore", code="invalid_action")
        if not note or len(note) > 2000:
            raise InvalidRequest("say why, in at most 2,000 characters", code="note_required")
        visible = _visible(request, principal)
        with ctx.db.transaction() as session:
            resolution.resolve(session, ctx, difference_id, action=action, note=note, visible=visible,
                               actor=actor_of(principal))
        ctx.wake_worker()
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _run_page(request, signed, run_id, status_code=exc.http_status, error=exc)
    return RedirectResponse(f"/dashboard/reconciliation/{run_id}", status_code=303, headers=HEADERS)
