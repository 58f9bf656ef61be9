"""The dashboard's profit sharing (分账): the merchant's receivers (declared to a channel account from the page,
or withdrawn), its latest sharing orders, and — from a payment's page — sharing a paid payment and taking a
share back (分账回退).

Money leaves the merchant here, so the pages decide nothing themselves: every form becomes the request the
API would have made (``ReceiverCreate``, ``SharingOrderCreate``, ``SharingReturnCreate``) and goes through
the same services, which check the shareable amount, the receivers and the channel's answer. A share or
return form carries a number made when its page was rendered, used as the ``out_order_no`` /
``out_return_no``: the same form sent twice (a double click, a reload) names an order that already exists,
which the service refuses instead of sharing twice.
"""

from __future__ import annotations

from typing import Any, get_args

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from indiepay.accounts.service import list_accounts
from indiepay.channels.registry import channel_spec
from indiepay.channels.sharing import ReceiverType
from indiepay.core.errors import Conflict, IndiePayError, InvalidRequest, NotFound
from indiepay.core.money import MAX_AMOUNT_FEN, yuan_to_fen
from indiepay.dashboard.service import Signed
from indiepay.sharing import receivers, returns, service
from indiepay.sharing.schemas import ReceiverCreate, SharingOrderCreate, SharingReturnCreate
from indiepay.web.dashboard import PostedForm, check_form, ctx_of, failure, form_text, render
from indiepay.web.dashboard_pages import merchant_signed_in, payment_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)
RECEIVER_TYPES = tuple(kind.value for kind in ReceiverType)
RELATIONS: tuple[str, ...] = get_args(ReceiverCreate.model_fields["relation"].annotation)
MAX_LINES = 50  # the lines a share form may have (``receiver_<n>``, ``amount_<n>``): the API's own limit


def _text(form: Any, name: str) -> str:
    return (form_text(form, name) or "").strip()


def _fen(text: str, what: str) -> int:
    """A yuan amount typed into a form, in fen. Raises InvalidRequest ``invalid_amount``."""
    amount = yuan_to_fen(text)  # InvalidRequest for anything but yuan with at most two decimals
    if amount <= 0:
        raise InvalidRequest(f"{what}: the amount must be more than 0", code="invalid_amount")
    if amount > MAX_AMOUNT_FEN:
        raise InvalidRequest(f"{what}: that is more than any payment holds", code="invalid_amount")
    return amount


def _form_no(form: Any) -> str:
    """The form's number (``dash<hex>``, made when its page was rendered). Raises InvalidRequest ``invalid_form``:
    without it a resent form would not be recognised as the same request."""
    number = _text(form, "form_no")
    if not number.startswith("dash"):
        raise InvalidRequest("the form is incomplete: reload the page", code="invalid_form")
    return number


# -- the sharing page ----------------------------------------------------------------------------------


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          notice: str | None = None) -> HTMLResponse:
    ctx = ctx_of(request)
    principal = signed.principal
    with ctx.db.read() as session:
        listed = receivers.list_receivers(session, principal, channel_account_id=None, status=None, limit=100,
                                          starting_after=None)
        accounts = [account for account in list_accounts(session, principal)
                    if account.status == "active" and channel_spec(account.channel).offers_profit_sharing]
        orders = service.list_orders(session, principal, payment_id=None, status=None, limit=20, starting_after=None)
    return render(request, "sharing.html", signed, status_code=status_code, error=error, notice=notice,
                  receivers=listed.data, more_receivers=listed.has_more, orders=orders.data,
                  accounts=[(account.id, account.channel) for account in accounts], receiver_types=RECEIVER_TYPES,
                  relations=RELATIONS)


@router.get("/sharing", response_class=HTMLResponse, response_model=None)
def sharing_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


def _receiver_body(form: Any) -> ReceiverCreate:
    """The receiver a form declares. Raises InvalidRequest ``invalid_receiver`` (naming the fields)."""
    try:
        return ReceiverCreate(channel_account_id=_text(form, "channel_account_id"), type=_text(form, "type"),
                              account=_text(form, "account"), name=_text(form, "name") or None,
                              relation=_text(form, "relation") or "distributor",
                              description=_text(form, "description") or None)
    except ValidationError as exc:
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise InvalidRequest("choose an account, a type and a relation, and give the receiver's account (at most "
                             "128 characters; a description at most 80)", code="invalid_receiver",
                             details={"fields": fields}) from exc


@router.post("/sharing/receivers", response_model=None)
def add_receiver(request: Request, form: PostedForm) -> Response:
    """Declare a receiver to the channel account (the channel is asked first; nothing is kept if it says no)."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        added = receivers.add_receiver(ctx_of(request), signed.principal, _receiver_body(form))
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return _page(request, signed, notice=f"Receiver {added.account} declared to {added.channel}: {added.status}.")


@router.post("/sharing/receivers/{receiver_id}/remove", response_model=None)
def remove_receiver(receiver_id: str, request: Request, form: PostedForm) -> Response:
    """Withdraw a receiver at the channel; the shares it already has stay as they are."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        removed = receivers.remove_receiver(ctx_of(request), signed.principal, receiver_id)
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    return _page(request, signed, notice=f"Receiver {removed.account} removed.")


# -- sharing a payment, and taking a share back (from the payment's page) -------------------------------


def _share_body(payment_id: str, form: Any) -> SharingOrderCreate:
    """The order a payment's share form asks for: its filled lines (a line with only one half filled is an
    error, not skipped), ``finish`` when ticked. Raises InvalidRequest (``invalid_amount``,
    ``invalid_share_line``, ``invalid_form``)."""
    lines: list[dict[str, Any]] = []
    for n in range(1, MAX_LINES + 1):
        receiver_id, amount = _text(form, f"receiver_{n}"), _text(form, f"amount_{n}")
        if not receiver_id and not amount:
            continue
        if not receiver_id or not amount:
            raise InvalidRequest(f"line {n}: choose a receiver and give an amount", code="invalid_share_line",
                                 details={"line": n})
        lines.append({"receiver_id": receiver_id, "amount": _fen(amount, f"line {n}")})
    number = _form_no(form)
    try:
        return SharingOrderCreate.model_validate({"payment_id": payment_id, "receivers": lines,
                                                  "finish": _text(form, "finish") == "1", "out_order_no": number})
    except ValidationError as exc:
        raise InvalidRequest("this share cannot be asked for: reload the page", code="invalid_form") from exc


@router.post("/payments/{payment_id}/shares", response_model=None)
def share_payment(payment_id: str, request: Request, form: PostedForm) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        order = service.create_order(ctx_of(request), signed.principal, _share_body(payment_id, form))
    except NotFound as exc:
        return failure(request, signed, exc)
    except Conflict as exc:
        if exc.code == "duplicate_out_order_no":  # this very form was sent before: that order stands
            return payment_view(request, signed, payment_id, notice="This share was already asked for.")
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    except IndiePayError as exc:
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, payment_id, notice=f"Share {order.id} asked for: {order.status}.")


def _return_body(order_id: str, form: Any) -> SharingReturnCreate:
    """The return a line's form asks for. Raises InvalidRequest (``invalid_amount``, ``invalid_form``)."""
    amount = _fen(_text(form, "amount"), "the return")
    try:
        return SharingReturnCreate(order_id=order_id, receiver_id=_text(form, "receiver_id"), amount=amount,
                                   out_return_no=_form_no(form))
    except ValidationError as exc:
        raise InvalidRequest("this return cannot be asked for: reload the page", code="invalid_form") from exc


@router.post("/sharing/orders/{order_id}/returns", response_model=None)
def return_share(order_id: str, request: Request, form: PostedForm) -> Response:
    """Take (part of) a receiver's share back; the answer is the order's payment page."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    payment_id: str | None = None  # known once the order is found: until then a refusal has a page of its own
    try:
        check_form(signed, form)
        with ctx.db.read() as session:
            payment_id = service.get_order(session, signed.principal, order_id).payment_id
        found = returns.create_return(ctx, signed.principal, _return_body(order_id, form))
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        if payment_id is None:
            return failure(request, signed, exc)
        if exc.code == "duplicate_out_return_no":  # this very form was sent before: that return stands
            return payment_view(request, signed, payment_id, notice="This return was already asked for.")
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, payment_id, notice=f"Return {found.id} asked for: {found.status}.")
