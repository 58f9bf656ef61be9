"""HTTP: payments."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from indiepay.httpapi.deps import Caller, CreatedGte, CreatedLt, Ctx, IdempotencyKey, idempotent_json
from indiepay.payments import receipts, service
from indiepay.payments.schemas import PaymentCreate, PaymentList, PaymentOut, ReceiptOut, ReceiptRefundOut

router = APIRouter(prefix="/v1/payments", tags=["payments"])


@router.post("", status_code=201, response_model=PaymentOut)
def create_payment(body: PaymentCreate, ctx: Ctx, caller: Caller, request: Request,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def run() -> tuple[int, object]:
        return 201, service.create_payment(ctx, caller, body).model_dump(mode="json")

    def resume() -> tuple[int, object]:
        return 201, service.resume_create(ctx, caller, body).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run, resume)


@router.get("", response_model=PaymentList)
def list_payments(ctx: Ctx, caller: Caller, status: str | None = None, out_trade_no: str | None = None,
                  limit: Annotated[int, Query(ge=1, le=100)] = 20, starting_after: str | None = None,
                  created_gte: CreatedGte = None, created_lt: CreatedLt = None) -> PaymentList:
    with ctx.db.read() as session:
        return service.list_payments(session, ctx, caller, status=status, out_trade_no=out_trade_no,
                                     limit=limit, starting_after=starting_after, created_gte=created_gte,
                                     created_lt=created_lt)


@router.get("/{payment_id}", response_model=PaymentOut)
def get_payment(payment_id: str, ctx: Ctx, caller: Caller) -> JSONResponse:
    """Polled often by merchants: the response is built once (no second validation by the framework)."""
    with ctx.db.read() as session:
        payment = service.get_payment(session, ctx, caller, payment_id)
        return JSONResponse(service.to_out(ctx, payment).model_dump(mode="json"))


@router.post("/{payment_id}/close", response_model=PaymentOut)
def close_payment(payment_id: str, ctx: Ctx, caller: Caller, request: Request,
                  idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def run() -> tuple[int, object]:
        return 200, service.close_payment(ctx, caller, payment_id).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, {}, run, resume=run)  # closing twice is safe


@router.get("/{payment_id}/receipt", response_model=ReceiptOut)
def get_receipt(payment_id: str, ctx: Ctx, caller: Caller) -> ReceiptOut:
    """The e-receipt of a succeeded payment, with the address of its printable page for the buyer."""
    with ctx.db.read() as session:
        receipt = receipts.receipt_for(session, payment_id, merchant_id=caller.require_merchant(),
                                       livemode=caller.livemode)
    return ReceiptOut(
        payment_id=receipt.payment_id, livemode=receipt.livemode, url=ctx.checkout_url(receipt.payment_id) + "/receipt",
        merchant_name=receipt.merchant_name, merchant_short_name=receipt.merchant_short_name,
        collected_by=receipt.collected_by, description=receipt.description, method=receipt.method,
        channel=receipt.channel, currency=receipt.currency, amount=receipt.amount, refunded_amount=receipt.refunded,
        net_amount=receipt.net, out_trade_no=receipt.out_trade_no, channel_trade_no=receipt.channel_trade_no,
        paid_at=receipt.paid_at,
        refunds=[ReceiptRefundOut(id=r.refund_id, amount=r.amount, status=r.status, at=r.at) for r in receipt.refunds])
