"""HTTP: ``GET /v1/audit_events`` (admin: every event; a merchant: its own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.audit import service
from indiepay.audit.schemas import AuditEventOut
from indiepay.httpapi.deps import Caller, Ctx

router = APIRouter(prefix="/v1/audit_events", tags=["audit"])


@router.get("", response_model=list[AuditEventOut])
def list_audit_events(ctx: Ctx, caller: Caller,
                      limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                      after_sequence: Annotated[int | None, Query(ge=0, le=2**63 - 1)] = None,
                      action: str | None = None) -> list[AuditEventOut]:
    with ctx.db.read() as session:
        return [AuditEventOut.model_validate(event, from_attributes=True)
                for event in service.list_events(session, caller, limit=limit, after_sequence=after_sequence,
                                                 action=action)]
