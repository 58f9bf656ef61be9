"""HTTP: merchants (admin creates; admin or the merchant itself reads)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from indiepay.advisor.service import readiness_checklist
from indiepay.httpapi.deps import Admin, Caller, Ctx, IdempotencyKey, idempotent_json
from indiepay.merchants import api_keys, collection_mode, service
from indiepay.merchants.schemas import (
    ApiKeyCreate,
    ApiKeyIssue,
    ApiKeyOut,
    ApiKeyRoll,
    CollectionModeChangeOut,
    CollectionModeIn,
    MerchantCreate,
    MerchantList,
    MerchantOut,
    MerchantUpdate,
)

router = APIRouter(prefix="/v1/merchants", tags=["merchants"])


@router.post("", status_code=201, response_model=MerchantOut)
def create_merchant(body: MerchantCreate, ctx: Ctx, admin: Admin, request: Request,
                    idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Onboard a merchant; its raw test and live keys are in this answer only. Under an Idempotency-Key the
    stored answer has them taken out, so a repeat names the same merchant without them (``api_keys`` null,
    ``api_keys_redacted`` true)."""
    def run() -> tuple[int, object]:
        with ctx.db.transaction() as session:
            return 201, service.create_merchant(session, ctx.clock, body).model_dump(mode="json")

    return idempotent_json(ctx, admin, request, idempotency_key, body.model_dump(mode="json"), run,
                           keep=service.without_keys)


@router.get("", response_model=MerchantList)
def list_merchants(ctx: Ctx, admin: Admin, status: str | None = None, kyc_status: str | None = None,
                   collection_mode: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   starting_after: str | None = None) -> MerchantList:
    with ctx.db.read() as session:
        return service.list_merchants(session, status=status, kyc_status=kyc_status,
                                      collection_mode=collection_mode, limit=limit, starting_after=starting_after)


@router.get("/{merchant_id}", response_model=MerchantOut)
def get_merchant(merchant_id: str, ctx: Ctx, caller: Caller) -> MerchantOut:
    with ctx.db.read() as session:
        return service.to_out(service.get_merchant(session, caller, merchant_id))


@router.patch("/{merchant_id}", response_model=MerchantOut)
def update_merchant(merchant_id: str, body: MerchantUpdate, ctx: Ctx, admin: Admin) -> MerchantOut:
    with ctx.db.transaction() as session:
        return service.to_out(service.update_merchant(session, ctx.clock, admin, merchant_id, body))


@router.put("/{merchant_id}/collection_mode", response_model=MerchantOut)
def switch_collection_mode(merchant_id: str, body: CollectionModeIn, ctx: Ctx, caller: Caller) -> MerchantOut:
    """Switch how the merchant collects; new payments only (payments in flight keep their mode). The live
    key or the admin key: the mode governs live money, so a test key gets 403 ``livemode_required``."""
    with ctx.db.transaction() as session:
        merchant, _ = collection_mode.switch_mode(session, ctx.clock, caller, merchant_id, body.mode,
                                                  readiness_checklist(ctx.clock))
        return service.to_out(merchant)


@router.get("/{merchant_id}/collection_mode_changes", response_model=list[CollectionModeChangeOut])
def collection_mode_changes(merchant_id: str, ctx: Ctx, caller: Caller) -> list[CollectionModeChangeOut]:
    with ctx.db.read() as session:
        return [CollectionModeChangeOut.model_validate(change, from_attributes=True)
                for change in collection_mode.history(session, caller, merchant_id)]


@router.post("/{merchant_id}/api_keys", status_code=201, response_model=ApiKeyOut)
def issue_api_key(merchant_id: str, body: ApiKeyIssue, ctx: Ctx, admin: Admin) -> ApiKeyOut:
    """The operator issues the merchant a new key of ``mode`` (shown once) — for a merchant that lost its
    keys (they are shown once, never replayed) or whose key leaked: ``revoke_existing`` (default) revokes
    the merchant's other keys of that mode at once."""
    with ctx.db.transaction() as session:
        out = api_keys.issue(session, ctx.clock, admin, merchant_id, body)
    ctx.principals.clear()  # this process stops honouring the revoked keys at once (others within seconds)
    return out


api_keys_router = APIRouter(prefix="/v1/api_keys", tags=["api keys"])


@api_keys_router.post("", status_code=201, response_model=ApiKeyOut)
def create_api_key(body: ApiKeyCreate, ctx: Ctx, caller: Caller) -> ApiKeyOut:
    """A further key for the calling merchant (e.g. ``read_only`` for reporting tools); shown once."""
    with ctx.db.transaction() as session:
        return api_keys.create(session, ctx.clock, caller, body)


@api_keys_router.post("/roll", status_code=201, response_model=ApiKeyOut)
def roll_api_key(ctx: Ctx, caller: Caller, body: ApiKeyRoll | None = None) -> ApiKeyOut:
    """Replace the calling key; the old one works until ``expires_in_seconds`` (default 24 h) from now."""
    with ctx.db.transaction() as session:
        out = api_keys.roll(session, ctx.clock, caller, (body or ApiKeyRoll()).expires_in_seconds)
    ctx.principals.clear()  # this process stops honouring an immediately expired key at once
    return out
