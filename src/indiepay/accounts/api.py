"""HTTP: channel accounts (the merchant's own; credentials never come back)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from indiepay.accounts import service
from indiepay.accounts.schemas import ChannelAccountCreate, ChannelAccountOut
from indiepay.httpapi.deps import Caller, Ctx, IdempotencyKey, idempotent_json

router = APIRouter(prefix="/v1/channel_accounts", tags=["channel accounts"])


@router.post("", status_code=201, response_model=ChannelAccountOut)
def create_account(body: ChannelAccountCreate, ctx: Ctx, caller: Caller, request: Request,
                   idempotency_key: IdempotencyKey = None) -> JSONResponse:
    caller.require_merchant()

    def run() -> tuple[int, object]:
        provisioned = service.provision_sandbox_credentials(ctx, body.channel, body.key_mode) if (
            body.sandbox and not caller.livemode) else None
        with ctx.db.transaction() as session:
            return 201, service.create_account(session, ctx, caller, body, provisioned).model_dump(mode="json")

    return idempotent_json(ctx, caller, request, idempotency_key, body.model_dump(mode="json"), run)


@router.get("", response_model=list[ChannelAccountOut])
def list_accounts(ctx: Ctx, caller: Caller) -> list[ChannelAccountOut]:
    with ctx.db.read() as session:
        return [service.to_out(a) for a in service.list_accounts(session, caller)]


@router.get("/{account_id}", response_model=ChannelAccountOut)
def get_account(account_id: str, ctx: Ctx, caller: Caller) -> ChannelAccountOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_account(session, caller, account_id))
