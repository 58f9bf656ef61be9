"""HTTP: monthly statements and tax summaries, as JSON or as CSV / XLSX downloads.

A merchant's live key reads its own statements; the admin names the merchant with ``?merchant_id=``.
Statements are built from the ledger, which holds live money only, so test keys are refused
(``livemode_required``) rather than shown live figures. Asking for a statement generates it (a draft while
the month is open and for a day after it, final from then on) — repeating the request is harmless.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from indiepay.core.errors import InvalidRequest, NotFound, PermissionDenied
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal
from indiepay.statements import exports, render, service
from indiepay.statements.schemas import StatementBody, StatementOut, TaxSummary
from indiepay.statements.service import IssuedStatement
from indiepay.statements.tax import tax_summary

router = APIRouter(prefix="/v1/statements", tags=["statements"])
FORMATS = ("json", "csv", "xlsx")
Format = Annotated[str, Query(alias="format", description="json (default), csv or xlsx")]
_DOWNLOADS: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}, render.XLSX_MEDIA_TYPE: {}},
          "description": "JSON, or a CSV / XLSX download with ?format="}}


def merchant_scope(caller: Principal, merchant_id: str | None) -> str:
    """The merchant whose statement the caller may read.

    Raises:
        PermissionDenied (``livemode_required``): a test key.
        InvalidRequest (``merchant_id_required``): the admin did not say which merchant.
        NotFound (``merchant_not_found``): a merchant key asked for another merchant.
    """
    if caller.is_admin:
        if not merchant_id:
            raise InvalidRequest("the admin key must name the merchant: ?merchant_id=", code="merchant_id_required")
        return merchant_id
    if not caller.livemode:
        raise PermissionDenied("statements hold live money only: use a live key", code="livemode_required")
    own = caller.require_merchant()
    if merchant_id is not None and merchant_id != own:
        raise NotFound("no such merchant", code="merchant_not_found")
    return own


def _format(value: str) -> str:
    if value not in FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(FORMATS)}", code="invalid_format",
                             details={"formats": list(FORMATS)})
    return value


def _issue(ctx: Ctx, caller: Principal, month: str, currency: str, merchant_id: str | None,
           fmt: str) -> IssuedStatement:
    scope = merchant_scope(caller, merchant_id)
    _format(fmt)
    return service.issue(ctx.db, ctx.clock, merchant_id=scope, month=month, currency=currency)


def _download(document: exports.Document, fmt: str) -> Response:
    content, media_type, filename = render.document_file(document, fmt)
    return Response(content=content, media_type=media_type, headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


@router.get("/{month}", response_model=StatementOut, responses=_DOWNLOADS)
def get_statement(month: str, ctx: Ctx, caller: Caller, fmt: Format = "json", currency: str = "CNY",
                  merchant_id: str | None = None) -> Any:
    """The merchant's statement for ``month`` (YYYY-MM, Asia/Shanghai)."""
    issued = _issue(ctx, caller, month, currency, merchant_id, fmt)
    if fmt == "json":
        return StatementOut(id=issued.id, merchant_id=issued.merchant_id, month=issued.month,
                            currency=issued.currency, status=issued.status, generated_at=issued.generated_at,
                            body_sha256=issued.body_sha256, body=StatementBody.model_validate(issued.body))
    return _download(exports.statement_document(issued.body, status=issued.status,
                                                generated_at=_stamp(issued), sha256=issued.body_sha256), fmt)


@router.get("/{month}/tax_summary", response_model=TaxSummary, responses=_DOWNLOADS)
def get_tax_summary(month: str, ctx: Ctx, caller: Caller, fmt: Format = "json", currency: str = "CNY",
                    merchant_id: str | None = None) -> Any:
    """The accountant's tax summary of ``month``, derived from the month's statement."""
    issued = _issue(ctx, caller, month, currency, merchant_id, fmt)
    summary = tax_summary(issued.body, status=issued.status, statement_sha256=issued.body_sha256)
    if fmt == "json":
        return summary
    return _download(exports.tax_document(summary, generated_at=_stamp(issued)), fmt)


def _stamp(issued: IssuedStatement) -> str:
    return issued.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
