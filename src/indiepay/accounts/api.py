"""HTTP: channel accounts (the merchant's own; credentials never come back)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from indiepay.accounts import rotation, service, verification
from indiepay.accounts.schemas import (
    ChannelAccountCreate,
    ChannelAccountOut,
    ChannelAccountUpdate,
    CredentialsRotate,
)
from indiepay.httpapi.deps import Admin, Caller, Ctx, IdempotencyKey, idempotent_json
from indiepay.payments.schemas import PaymentOut

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
    """One account with its credential fingerprints (audited as ``credentials.viewed``)."""
    with ctx.db.transaction() as session:
        return service.view_account(session, ctx, caller, account_id)


@router.put("/{account_id}/credentials", response_model=ChannelAccountOut)
def rotate_credentials(account_id: str, body: CredentialsRotate, ctx: Ctx, caller: Caller) -> ChannelAccountOut:
    """Replace the account's credentials (merchant: its own; operator: the platform's). The old ones still
    verify callbacks until the new ones pass a test payment or the grace window ends."""
    with ctx.db.transaction() as session:
        return rotation.rotate_credentials(session, ctx, caller, account_id, body)


platform_router = APIRouter(prefix="/v1/platform/channel_accounts", tags=["platform accounts"])


@platform_router.post("", status_code=201, response_model=ChannelAccountOut)
def create_platform_account(body: ChannelAccountCreate, ctx: Ctx, admin: Admin, request: Request,
                            idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """The operator connects one of the platform's own accounts (platform collection routes to these)."""
    def run() -> tuple[int, object]:
        provisioned = service.provision_sandbox_credentials(ctx, body.channel, body.key_mode) if body.sandbox else None
        with ctx.db.transaction() as session:
            out = service.create_platform_account(session, ctx, admin, body, provisioned)
            return 201, out.model_dump(mode="json")

    return idempotent_json(ctx, admin, request, idempotency_key, body.model_dump(mode="json"), run)


@platform_router.get("", response_model=list[ChannelAccountOut])
def list_platform_accounts(ctx: Ctx, admin: Admin) -> list[ChannelAccountOut]:
    with ctx.db.read() as session:
        return [service.to_out(a) for a in service.list_platform_accounts(session, admin)]


@router.patch("/{account_id}", response_model=ChannelAccountOut)
def update_account(account_id: str, body: ChannelAccountUpdate, ctx: Ctx, admin: Admin) -> ChannelAccountOut:
    """The operator sets an account's role, fee rate, settlement bank or daily cap."""
    with ctx.db.transaction() as session:
        return service.to_out(service.update_account(session, admin, account_id, body))


@router.post("/{account_id}/test_payment", status_code=201, response_model=PaymentOut)
@router.post("/{account_id}/verification", status_code=201, response_model=PaymentOut)
def start_verification(account_id: str, ctx: Ctx, caller: Caller) -> PaymentOut:
    """Start the account's 0.01 test payment; once paid it is refunded and the account marked verified."""
    caller.require_merchant()
    return verification.start(ctx, caller, account_id)
