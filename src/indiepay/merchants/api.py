"""HTTP: merchants (admin creates; admin or the merchant itself reads)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from indiepay.httpapi.deps import Admin, Caller, Ctx, IdempotencyKey, idempotent_json
from indiepay.merchants import service
from indiepay.merchants.schemas import MerchantCreate, MerchantOut

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])


@router.post("", status_code=201, response_model=MerchantOut)
def create_merchant(body: MerchantCreate, ctx: Ctx, admin: Admin, request: Request,
                    idempotency_key: IdempotencyKey = None) -> JSONResponse:
    def run() -> tuple[int, object]:
        with ctx.db.transaction() as session:
            return 201, service.create_merchant(session, ctx.clock, body).model_dump(mode="json")

    return idempotent_json(ctx, admin, request, idempotency_key, body.model_dump(mode="json"), run)


@router.get("/{merchant_id}", response_model=MerchantOut)
def get_merchant(merchant_id: str, ctx: Ctx, caller: Caller) -> MerchantOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_merchant(session, caller, merchant_id))
