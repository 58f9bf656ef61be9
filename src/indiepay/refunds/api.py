"""HTTP: refunds."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from indiepay.httpapi.deps import Caller, CreatedGte, CreatedLt, Ctx, IdempotencyKey, idempotent_json
from indiepay.idempotency.service import running_claim
from indiepay.refunds import manual, service
from indiepay.refunds.schemas import ManualRefundConfirm, RefundCreate, RefundList, RefundOut

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])


@router.post("", status_code=201, response_model=RefundOut)
def create_refund(body: RefundCreate, ctx: Ctx, caller: Caller, request: Request,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()
    def numbered() -> RefundCreate:
        """Under a key, a refund asked for without a number gets the key's claim's (see
        :func:`service.out_refund_no_for_claim`): its retries find it, a new request under an old key does not."""
        claim = running_claim()
        if body.out_refund_no is not None or claim is None:
            return body
        return body.model_copy(update={"out_refund_no": service.out_refund_no_for_claim(claim)})

    def run() -> tuple[int, object]:
        return 201, service.create_refund(ctx, caller, numbered()).model_dump(mode="json")

    def resume() -> tuple[int, object]:
        return 201, service.resume_refund(ctx, caller, numbered()).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run, resume)


@router.get("", response_model=RefundList)
def list_refunds(ctx: Ctx, caller: Caller, payment_id: str | None = None, status: str | None = None,
                 out_refund_no: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                 starting_after: str | None = None, created_gte: CreatedGte = None,
                 created_lt: CreatedLt = None) -> RefundList:
    with ctx.db.read() as session:
        return service.list_refunds(session, caller, payment_id=payment_id, status=status,
                                    out_refund_no=out_refund_no, limit=limit, starting_after=starting_after,
                                    created_gte=created_gte, created_lt=created_lt)


@router.get("/{refund_id}", response_model=RefundOut)
def get_refund(refund_id: str, ctx: Ctx, caller: Caller) -> RefundOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_refund(session, caller, refund_id))


@router.post("/{refund_id}/confirm_transfer", response_model=RefundOut)
def confirm_manual_refund(refund_id: str, body: ManualRefundConfirm, ctx: Ctx, caller: Caller) -> RefundOut:
    """A refund of a bank-transfer payment: the merchant sent the money back (its bank number)."""
    return manual.confirm(ctx, caller, refund_id, body)


@router.post("/{refund_id}/cancel", response_model=RefundOut)
def cancel_manual_refund(refund_id: str, ctx: Ctx, caller: Caller) -> RefundOut:
    """A refund of a bank-transfer payment that will not be sent after all: refundable again."""
    return manual.cancel(ctx, caller, refund_id)
