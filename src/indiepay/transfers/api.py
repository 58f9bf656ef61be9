"""HTTP: bank transfers — statement imports, confirmations by hand, the statement lines."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from indiepay.core.errors import InvalidRequest
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.transfers import repository, rules, service
from indiepay.transfers.schemas import StatementImportOut, StatementLineList, StatementLineOut, TransferConfirm

router = APIRouter(tags=["bank transfers"])


_STATEMENT_BODY = {"requestBody": {  # read raw from the request: FastAPI cannot see it to document it
    "required": True, "description": "the bank's statement export: CSV (UTF-8 or GB18030) with one header row",
    "content": {"text/csv": {"schema": {"type": "string", "format": "binary"}}}}}


@router.post("/v1/bank_transfers/statements", status_code=201, response_model=StatementImportOut,
             openapi_extra=_STATEMENT_BODY)
async def import_statement(request: Request, ctx: Ctx, caller: Caller, account_id: str) -> StatementImportOut:
    """Import a statement of a bank_transfer account (raw body: CSV, see ``indiepay.transfers.rules``);
    each credit is recorded once and matched to the payment its memo's reference code names."""
    content = await _capped_body(request, rules.MAX_BYTES)
    return await run_in_threadpool(service.import_statement, ctx, caller, account_id, content)


async def _capped_body(request: Request, limit: int) -> bytes:
    """The body, read no further than ``limit`` bytes: an oversized upload is refused before it is held."""
    too_big = InvalidRequest(f"a statement file is at most {limit // (1024 * 1024)} MB", code="invalid_statement",
                             details={"max_bytes": limit})
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


@router.post("/v1/payments/{payment_id}/confirm_transfer", response_model=StatementLineOut)
def confirm_transfer(payment_id: str, body: TransferConfirm, ctx: Ctx, caller: Caller) -> StatementLineOut:
    """The merchant saw the payment's transfer arrive: the payment succeeds (amount checked)."""
    return service.confirm_transfer(ctx, caller, payment_id, body)


@router.get("/v1/bank_transfers/lines", response_model=StatementLineList)
def list_lines(ctx: Ctx, caller: Caller, account_id: str | None = None,
               status: Annotated[str | None, Query(pattern="^(matched|unmatched)$")] = None,
               limit: Annotated[int, Query(ge=1, le=100)] = 20, starting_after: str | None = None) -> StatementLineList:
    merchant_id = caller.require_merchant()
    with ctx.db.read() as session:
        after = service.get_line(session, caller, starting_after) if starting_after else None
        rows = repository.list_page(session, merchant_id, caller.livemode, account_id=account_id, status=status,
                                    limit=limit, starting_after=after)
        return StatementLineList(data=[service.to_out(line) for line in rows[:limit]], has_more=len(rows) > limit)


@router.get("/v1/bank_transfers/lines/{line_id}", response_model=StatementLineOut)
def get_line(line_id: str, ctx: Ctx, caller: Caller) -> StatementLineOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_line(session, caller, line_id))
