"""HTTP: monthly statements and tax summaries, as JSON or as CSV / XLSX downloads; the transactions export.

A merchant's live key reads its own statements; the admin names the merchant with ``?merchant_id=``.
Statements are built from the ledger, which holds live money only, so test keys are refused
(``livemode_required``) rather than shown live figures. Asking for a statement generates it (a draft while
the month is open and for a day after it, final from then on) — repeating the request is harmless.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from indiepay.context import ServiceContext
from indiepay.core.clock import business_day
from indiepay.core.errors import InvalidRequest, PermissionDenied
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal
from indiepay.merchants.service import get_merchant
from indiepay.statements import exports, render, service, transactions
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
    if not caller.is_admin and not caller.livemode:
        raise PermissionDenied("statements hold live money only: use a live key", code="livemode_required")
    return caller.merchant_named(merchant_id)


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


exports_router = APIRouter(prefix="/v1/exports", tags=["statements"])
TRANSACTION_FORMATS = ("csv", "xlsx")
CHUNK = 64 * 1024


def transactions_download(ctx: ServiceContext, caller: Principal, merchant_id: str | None, first: str, last: str,
                          fmt: str) -> StreamingResponse:
    """The export as a download (the API's and the dashboard's): CSV streamed as it is read, XLSX written to
    a spooled file first (a workbook is a zip: it cannot be sent before it is finished).

    Raises:
        InvalidRequest (``invalid_format``, ``invalid_date``, ``invalid_span``, ``too_many_rows``),
        NotFound (``merchant_not_found``).
    """
    scope = caller.merchant_named(merchant_id)  # test keys export test data
    if fmt not in TRANSACTION_FORMATS:
        raise InvalidRequest(f"format must be one of {', '.join(TRANSACTION_FORMATS)}", code="invalid_format",
                             details={"formats": list(TRANSACTION_FORMATS)})
    span = transactions.span_of(first, last, today=business_day(ctx.clock.now()))
    with ctx.db.read() as session:
        get_merchant(session, caller, scope)  # 404 for a merchant that does not exist
    mode = "live" if caller.livemode else "test"
    filename = f"transactions_{scope}_{span.first}_{span.last}_{mode}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"}
    found = transactions.rows(ctx.db, scope, caller.livemode, span)
    if fmt == "csv":
        return StreamingResponse(render.transactions_csv(found), media_type=render.CSV_MEDIA_TYPE, headers=headers)
    spooled = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)  # noqa: SIM115 -- closed by _chunks
    try:
        render.transactions_xlsx(found, spooled)
    except BaseException:
        spooled.close()
        raise
    spooled.seek(0)
    return StreamingResponse(_chunks(spooled), media_type=render.XLSX_MEDIA_TYPE, headers=headers)


def _chunks(spooled: IO[bytes]) -> Iterator[bytes]:
    try:
        while chunk := spooled.read(CHUNK):
            yield chunk
    finally:
        spooled.close()


@exports_router.get("/transactions", response_class=StreamingResponse, responses=_DOWNLOADS)
def export_transactions(ctx: Ctx, caller: Caller, first: Annotated[str, Query(alias="from")],
                        last: Annotated[str, Query(alias="to")], fmt: Annotated[str, Query(alias="format")] = "csv",
                        merchant_id: str | None = None) -> StreamingResponse:
    """Every payment and refund whose money moved on the Beijing days ``from`` … ``to`` (YYYY-MM-DD, both
    included, at most a year), one row each with its fees, then the totals: CSV (default) or XLSX. A test
    key exports test data, a live key live data; the admin names the merchant and gets its live data."""
    return transactions_download(ctx, caller, merchant_id, first, last, fmt)
