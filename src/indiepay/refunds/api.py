"""HTTP: refunds."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from indiepay.httpapi.deps import Caller, Ctx, IdempotencyKey, idempotency_scope, idempotent_json
from indiepay.refunds import service
from indiepay.refunds.schemas import RefundCreate, RefundOut

router = APIRouter(prefix="/v1/refunds", tags=["refunds"])


@router.post("", status_code=201, response_model=RefundOut)
def create_refund(body: RefundCreate, ctx: Ctx, caller: Caller, request: Request,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()
    asked = body.model_dump(mode="json")  # what the key's fingerprint covers: the request as sent
    if idempotency_key and body.out_refund_no is None:
        body = body.model_copy(update={"out_refund_no": service.out_refund_no_for_key(idempotency_scope(caller),
                                                                                     idempotency_key)})

    def run() -> tuple[int, object]:
        return 201, service.create_refund(ctx, caller, body).model_dump(mode="json")

    def resume() -> tuple[int, object]:
        return 201, service.resume_refund(ctx, caller, body).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, asked, run, resume)


@router.get("/{refund_id}", response_model=RefundOut)
def get_refund(refund_id: str, ctx: Ctx, caller: Caller) -> RefundOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_refund(session, caller, refund_id))
