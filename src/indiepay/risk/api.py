"""HTTP: the operator's kill switch — ``POST /v1/merchants/{id}/suspend|resume`` and the same for
``/v1/channel_accounts/{id}``; each answers with the status afterwards and the history of changes — and
the risk rules in force (``GET|PUT /v1/risk/rules``, admin) and the decisions they made
(``GET /v1/risk/decisions``: the operator all, a merchant its own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.httpapi.deps import Admin, Caller, Ctx
from indiepay.merchants.auth import Principal
from indiepay.risk import rulesets, service
from indiepay.risk.schemas import DecisionList, RuleSetIn, RuleSetOut, SuspensionOut, SwitchIn, SwitchOut

router = APIRouter(tags=["kill switch"])
rules_router = APIRouter(prefix="/v1/risk", tags=["risk"])


def _run(ctx: Ctx, caller: Principal, target: service.Target, target_id: str, action: service.Action,
         body: SwitchIn) -> SwitchOut:
    with ctx.db.transaction() as session:
        status, _ = service.switch(session, ctx.clock, caller, target, target_id, action, body.reason)
        changes = service.history(session, target, target_id)
        return SwitchOut(id=target_id, status=status,
                         history=[SuspensionOut.model_validate(c, from_attributes=True) for c in changes])


@router.post("/v1/merchants/{merchant_id}/suspend", response_model=SwitchOut)
def suspend_merchant(merchant_id: str, body: SwitchIn, ctx: Ctx, admin: Admin) -> SwitchOut:
    return _run(ctx, admin, "merchant", merchant_id, "suspend", body)


@router.post("/v1/merchants/{merchant_id}/resume", response_model=SwitchOut)
def resume_merchant(merchant_id: str, body: SwitchIn, ctx: Ctx, admin: Admin) -> SwitchOut:
    return _run(ctx, admin, "merchant", merchant_id, "resume", body)


@router.post("/v1/channel_accounts/{account_id}/suspend", response_model=SwitchOut)
def suspend_account(account_id: str, body: SwitchIn, ctx: Ctx, caller: Caller) -> SwitchOut:
    return _run(ctx, caller, "account", account_id, "suspend", body)


@router.post("/v1/channel_accounts/{account_id}/resume", response_model=SwitchOut)
def resume_account(account_id: str, body: SwitchIn, ctx: Ctx, caller: Caller) -> SwitchOut:
    return _run(ctx, caller, "account", account_id, "resume", body)


@rules_router.get("/rules", response_model=RuleSetOut)
def get_rules(ctx: Ctx, admin: Admin) -> RuleSetOut:
    """The rule set in force, each rule with its own shadow flag; ``shadow_mode`` says whether
    ``INDIEPAY_RISK_SHADOW`` runs them all in shadow mode regardless (a GET sent back as a PUT then keeps
    each rule's own flag)."""
    return service.ruleset_out(rulesets.stored_ruleset(ctx), shadow_mode=ctx.settings.risk_shadow)


@rules_router.put("/rules", response_model=RuleSetOut)
def put_rules(body: RuleSetIn, ctx: Ctx, admin: Admin) -> RuleSetOut:
    with ctx.db.transaction() as session:
        ruleset = rulesets.put_rules(session, ctx, admin, [rule.model_dump() for rule in body.rules], body.note)
    rulesets.remember(ctx, ruleset)
    return service.ruleset_out(rulesets.stored_ruleset(ctx), shadow_mode=ctx.settings.risk_shadow)


@rules_router.get("/decisions", response_model=DecisionList)
def list_decisions(ctx: Ctx, caller: Caller, merchant_id: str | None = None, object_id: str | None = None,
                   outcome: str | None = None, limit: Annotated[int, Query(ge=1, le=100)] = 20,
                   starting_after: str | None = None) -> DecisionList:
    with ctx.db.read() as session:
        return service.list_decisions(session, caller, merchant_id=merchant_id, object_id=object_id,
                                      outcome=outcome, limit=limit, starting_after=starting_after)
