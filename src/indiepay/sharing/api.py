"""HTTP: profit sharing — receivers, sharing orders, returns."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from indiepay.httpapi.deps import Caller, Ctx, IdempotencyKey, idempotent_json
from indiepay.idempotency.service import running_claim
from indiepay.sharing import receivers, returns, service
from indiepay.sharing.schemas import (
    ReceiverCreate,
    ReceiverList,
    ReceiverOut,
    SharingOrderCreate,
    SharingOrderList,
    SharingOrderOut,
    SharingReturnCreate,
    SharingReturnList,
    SharingReturnOut,
)

router = APIRouter(prefix="/v1/profit_sharing", tags=["profit sharing"])


@router.post("/receivers", status_code=201, response_model=ReceiverOut)
def add_receiver(body: ReceiverCreate, ctx: Ctx, caller: Caller, request: Request,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def run() -> tuple[int, object]:
        return 201, receivers.add_receiver(ctx, caller, body).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run, run)


@router.get("/receivers", response_model=ReceiverList)
def list_receivers(ctx: Ctx, caller: Caller, channel_account_id: str | None = None, status: str | None = None,
                   limit: Annotated[int, Query(ge=1, le=100)] = 20, starting_after: str | None = None) -> ReceiverList:
    with ctx.db.read() as session:
        return receivers.list_receivers(session, caller, channel_account_id=channel_account_id, status=status,
                                        limit=limit, starting_after=starting_after)


@router.get("/receivers/{receiver_id}", response_model=ReceiverOut)
def get_receiver(receiver_id: str, ctx: Ctx, caller: Caller) -> ReceiverOut:
    with ctx.db.read() as session:
        return receivers.to_out(receivers.get_receiver(session, caller, receiver_id))


@router.delete("/receivers/{receiver_id}", response_model=ReceiverOut)
def remove_receiver(receiver_id: str, ctx: Ctx, caller: Caller) -> ReceiverOut:
    return receivers.remove_receiver(ctx, caller, receiver_id)


@router.post("/orders", status_code=201, response_model=SharingOrderOut)
def create_order(body: SharingOrderCreate, ctx: Ctx, caller: Caller, request: Request,
                 idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def numbered() -> SharingOrderCreate:
        """Under a key, an order without a number of its own gets the key's claim's (as refunds do)."""
        claim = running_claim()
        if body.out_order_no is not None or claim is None:
            return body
        return body.model_copy(update={"out_order_no": service.out_order_no_for_claim(claim)})

    def run() -> tuple[int, object]:
        return 201, service.create_order(ctx, caller, numbered()).model_dump(mode="json")

    def resume() -> tuple[int, object]:
        return 201, service.resume_order(ctx, caller, numbered()).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run, resume)


@router.get("/orders", response_model=SharingOrderList)
def list_orders(ctx: Ctx, caller: Caller, payment_id: str | None = None, status: str | None = None,
                limit: Annotated[int, Query(ge=1, le=100)] = 20,
                starting_after: str | None = None) -> SharingOrderList:
    with ctx.db.read() as session:
        return service.list_orders(session, caller, payment_id=payment_id, status=status, limit=limit,
                                   starting_after=starting_after)


@router.get("/orders/{order_id}", response_model=SharingOrderOut)
def get_order(order_id: str, ctx: Ctx, caller: Caller) -> SharingOrderOut:
    with ctx.db.read() as session:
        return service.to_out(session, service.get_order(session, caller, order_id))


@router.post("/returns", status_code=201, response_model=SharingReturnOut)
def create_return(body: SharingReturnCreate, ctx: Ctx, caller: Caller, request: Request,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def numbered() -> SharingReturnCreate:
        claim = running_claim()
        if body.out_return_no is not None or claim is None:
            return body
        return body.model_copy(update={"out_return_no": returns.out_return_no_for_claim(claim)})

    def run() -> tuple[int, object]:
        return 201, returns.create_return(ctx, caller, numbered()).model_dump(mode="json")

    def resume() -> tuple[int, object]:
        return 201, returns.resume_return(ctx, caller, numbered()).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run, resume)


@router.get("/returns", response_model=SharingReturnList)
def list_returns(order_id: str, ctx: Ctx, caller: Caller,
                 limit: Annotated[int, Query(ge=1, le=100)] = 20) -> SharingReturnList:
    with ctx.db.read() as session:
        return returns.list_returns(session, caller, order_id, limit=limit)


@router.get("/returns/{return_id}", response_model=SharingReturnOut)
def get_return(return_id: str, ctx: Ctx, caller: Caller) -> SharingReturnOut:
    with ctx.db.read() as session:
        return returns.get_return(session, caller, return_id)
