"""The dashboard's bank transfers (银行转账): a merchant that takes payments by transfer settles them here.

No gateway tells the platform that a transfer arrived: the merchant's bank statement does, or the merchant
does. So the page lists the merchant's bank accounts (of the key's mode) with a form to upload a statement
file, and the latest statement lines — matched to the payment they paid, or unmatched with the reason, for
a person to settle. From a bank-transfer payment's page the merchant confirms a transfer it saw arrive, and
confirms (the bank's number of its transfer back) or cancels a refund, which no bank carries out for it.

Nothing is decided here: every form becomes the request the API would have made (the statement's bytes,
``TransferConfirm``, ``ManualRefundConfirm``) and goes through the same services, which check the file, the
amounts and the states. A statement file is read no further than the API's cap (``rules.MAX_BYTES``) + 1
byte; its contents are the statement parser's to judge (a NUL in it included), the form's text fields
:func:`.dashboard.posted_form`'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from indiepay.accounts.service import list_accounts
from indiepay.accounts.service import to_out as account_out
from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound
from indiepay.core.money import MAX_AMOUNT_FEN, yuan_to_fen
from indiepay.dashboard.service import Signed
from indiepay.refunds import manual
from indiepay.refunds.schemas import ManualRefundConfirm
from indiepay.refunds.service import get_refund
from indiepay.transfers import repository, rules, service
from indiepay.transfers.schemas import TransferConfirm
from indiepay.web.dashboard import PostedForm, check_form, ctx_of, failure, form_text, render
from indiepay.web.dashboard_pages import merchant_signed_in, payment_view

router = APIRouter(prefix="/dashboard", include_in_schema=False)
STATUSES = (rules.MATCHED, rules.UNMATCHED)
LINES_SHOWN = 50


def _text(form: Mapping[str, Any], name: str) -> str:
    return (form_text(form, name) or "").strip()


# -- the page ------------------------------------------------------------------------------------------


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None,
          notice: str | None = None) -> HTMLResponse:
    """The bank-transfer page, also as the answer to an upload. Only ``?status=matched|unmatched`` filters;
    any other value is a 400 ``invalid_status``."""
    ctx = ctx_of(request)
    principal = signed.principal
    status = request.query_params.get("status") or None
    if status is not None and status not in STATUSES:
        return failure(request, signed, InvalidRequest("status is matched or unmatched", code="invalid_status",
                                                       details={"param": "status"}))
    with ctx.db.read() as session:
        accounts = [account_out(account) for account in list_accounts(session, principal)
                    if account.channel == "bank_transfer"]
        lines = repository.list_page(session, principal.require_merchant(), principal.livemode, account_id=None,
                                     status=status, limit=LINES_SHOWN, starting_after=None)[:LINES_SHOWN]
    return render(request, "bank_transfers.html", signed, status_code=status_code, error=error, notice=notice,
                  accounts=accounts, lines=[service.to_out(line) for line in lines], status=status or "",
                  statuses=STATUSES, max_mb=rules.MAX_BYTES // (1024 * 1024))


@router.get("/bank_transfers", response_class=HTMLResponse, response_model=None)
def transfers_page(request: Request) -> Response:
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


def _statement_bytes(form: Mapping[str, Any]) -> bytes:
    """The uploaded statement, read no further than the cap + 1 byte.

    Raises:
        InvalidRequest: ``invalid_statement`` (no file, or over ``rules.MAX_BYTES``).
    """
    upload = form.get("file")
    if not isinstance(upload, UploadFile) or (not upload.filename and not upload.size):
        raise InvalidRequest("choose the statement file to upload", code="invalid_statement",
                             details={"field": "file"})
    too_big = InvalidRequest(f"a statement file is at most {rules.MAX_BYTES // (1024 * 1024)} MB",
                             code="invalid_statement", details={"max_bytes": rules.MAX_BYTES})
    try:
        if upload.size is not None and upload.size > rules.MAX_BYTES:
            raise too_big
        content = upload.file.read(rules.MAX_BYTES + 1)
    finally:
        upload.file.close()
    if len(content) > rules.MAX_BYTES:
        raise too_big
    return content


@router.post("/bank_transfers/statements", response_model=None)
def upload_statement(request: Request, form: PostedForm) -> Response:
    """A statement file uploaded from the page: each credit recorded once and matched, as
    ``POST /v1/bank_transfers/statements`` does; the page comes back with what the import did."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        account_id = _text(form, "account_id")
        if not account_id:
            raise InvalidRequest("choose the bank account the statement is of", code="invalid_form",
                                 details={"field": "account_id"})
        report = service.import_statement(ctx_of(request), signed.principal, account_id, _statement_bytes(form))
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    recorded = report.matched + report.unmatched
    notice = (f"Statement imported: {report.credits} credits, {recorded} lines recorded — {report.matched} "
              f"matched, {report.unmatched} unmatched")
    if report.already_imported:
        notice += f"; {report.already_imported} imported before, recorded once"
    return _page(request, signed, notice=notice + ".")


# -- from a payment's page -----------------------------------------------------------------------------


def _transfer(form: Mapping[str, Any]) -> TransferConfirm:
    """The transfer a confirmation form names. Raises InvalidRequest (``invalid_amount``, ``invalid_transfer``,
    ``invalid_characters``)."""
    amount = yuan_to_fen(_text(form, "amount"))  # InvalidRequest for anything but yuan with ≤ 2 decimals
    if not 0 < amount <= MAX_AMOUNT_FEN:
        raise InvalidRequest("the amount must be more than 0 and no more than any payment holds",
                             code="invalid_amount")
    try:
        return TransferConfirm(bank_txn_id=_text(form, "bank_txn_id"), amount=amount,
                               payer_name=_text(form, "payer_name") or None, memo=_text(form, "memo") or None)
    except ValidationError as exc:
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        raise InvalidRequest("give the bank's transaction number (at most 64 characters); the payer's name is at "
                             "most 100 characters, the memo 200", code="invalid_transfer",
                             details={"fields": fields}) from exc


@router.post("/payments/{payment_id}/confirm_transfer", response_model=None)
def confirm_transfer(payment_id: str, request: Request, form: PostedForm) -> Response:
    """The merchant saw a bank-transfer payment's money arrive: the payment succeeds (the amount checked)."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    try:
        check_form(signed, form)
        line = service.confirm_transfer(ctx_of(request), signed.principal, payment_id, _transfer(form))
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, payment_id,
                        notice=f"Transfer {line.bank_txn_id} recorded: the payment is paid.")


def _refund_action(request: Request, refund_id: str, form: Mapping[str, Any], confirming: bool) -> Response:
    """Confirm or cancel a by-hand refund; the answer is its payment's page."""
    signed = merchant_signed_in(request)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    payment_id: str | None = None
    try:
        check_form(signed, form)
        with ctx.db.read() as session:
            payment_id = get_refund(session, signed.principal, refund_id).payment_id
        if confirming:
            try:
                body = ManualRefundConfirm(bank_txn_id=_text(form, "bank_txn_id"))
            except ValidationError as exc:
                raise InvalidRequest("give the bank's number of your transfer back (at most 64 characters)",
                                     code="invalid_transfer", details={"fields": ["bank_txn_id"]}) from exc
            refund = manual.confirm(ctx, signed.principal, refund_id, body)
            notice = f"Refund {refund.id} confirmed as sent back ({body.bank_txn_id}): {refund.status}."
        else:
            refund = manual.cancel(ctx, signed.principal, refund_id)
            notice = f"Refund {refund.id} cancelled: {refund.status}; its amount is refundable again."
    except NotFound as exc:
        return failure(request, signed, exc)
    except IndiePayError as exc:
        if payment_id is None:  # refused before the refund was looked up (the form's token, a read-only key)
            return failure(request, signed, exc)
        return payment_view(request, signed, payment_id, status_code=exc.http_status, error=exc)
    return payment_view(request, signed, refund.payment_id, notice=notice)


@router.post("/refunds/{refund_id}/confirm_transfer", response_model=None)
def confirm_refund(refund_id: str, request: Request, form: PostedForm) -> Response:
    """The merchant sent a bank-transfer payment's refund back: the refund succeeds."""
    return _refund_action(request, refund_id, form, confirming=True)


@router.post("/refunds/{refund_id}/cancel", response_model=None)
def cancel_refund(refund_id: str, request: Request, form: PostedForm) -> Response:
    """The refund will not be sent after all: it fails and its amount is refundable again."""
    return _refund_action(request, refund_id, form, confirming=False)
