"""Merchant onboarding and lookup."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from indiepay.audit.service import actor_of, record
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.core.ids import new_id
from indiepay.db.pagination import list_filter, page_cursor
from indiepay.merchants import repository
from indiepay.merchants.auth import Principal, issue_key
from indiepay.merchants.models import Merchant
from indiepay.merchants.schemas import MerchantCreate, MerchantList, MerchantOut, MerchantUpdate
from indiepay.risk.limits import INDIVIDUAL_DAILY_CEILING


def to_out(merchant: Merchant, api_keys: dict[str, str] | None = None) -> MerchantOut:
    return MerchantOut(id=merchant.id, name=merchant.name, short_name=merchant.short_name,
                       subject_type=merchant.subject_type, contact_email=merchant.contact_email,
                       status=merchant.status, collection_mode=merchant.collection_mode,
                       kyc_status=merchant.kyc_status, platform_fee_bps=merchant.platform_fee_bps,
                       tech_fee_bps=merchant.tech_fee_bps, single_limit=merchant.single_limit,
                       daily_limit=merchant.daily_limit, created_at=merchant.created_at, api_keys=api_keys)


def create_merchant(session: Session, clock: Clock, body: MerchantCreate) -> MerchantOut:
    """Create a merchant with a test and a live API key; the raw keys appear only in this response."""
    merchant = Merchant(id=new_id("mch"), name=body.name, short_name=body.short_name,
                        subject_type=body.subject_type, contact_email=body.contact_email, status="active",
                        collection_mode=body.collection_mode, platform_fee_bps=body.platform_fee_bps,
                        tech_fee_bps=body.tech_fee_bps, kyc_status="pending", created_at=clock.now())
    session.add(merchant)
    session.flush()
    keys = {
        "test": issue_key(session, clock, merchant_id=merchant.id, role="merchant", livemode=False),
        "live": issue_key(session, clock, merchant_id=merchant.id, role="merchant", livemode=True),
    }
    return to_out(merchant, keys)


def without_keys(answer: Any) -> Any:
    """The creating answer as the idempotency store keeps and replays it: the same merchant with
    ``api_keys`` null and ``api_keys_redacted`` true. The raw keys are shown once and stored only hashed,
    so they may neither sit in the clear in the stored answer nor reach whoever repeats the request."""
    if not isinstance(answer, dict) or answer.get("api_keys") is None:
        return answer
    return {**answer, "api_keys": None, "api_keys_redacted": True}


def get_merchant(session: Session, principal: Principal, merchant_id: str) -> Merchant:
    """The merchant, if the caller may see it (admin, or that merchant); otherwise 404."""
    merchant = session.get(Merchant, merchant_id)
    if merchant is None or not principal.can_see_merchant(merchant_id):
        raise NotFound("no such merchant", code="merchant_not_found")
    return merchant


STATUSES = ("active", "suspended")
KYC_STATUSES = ("pending", "complete", "rejected")
COLLECTION_MODES = ("independent", "platform")


def list_merchants(session: Session, *, status: str | None, kyc_status: str | None, collection_mode: str | None,
                   limit: int, starting_after: str | None) -> MerchantList:
    """The operator's list of merchants, newest first (no API keys in it: those are shown once, at creation).

    Raises:
        InvalidRequest: ``invalid_status``, ``invalid_kyc_status``, ``invalid_collection_mode``;
            ``invalid_cursor`` when ``starting_after`` names no merchant.
    """
    filters = {"status": list_filter("status", status, STATUSES),
               "kyc_status": list_filter("kyc_status", kyc_status, KYC_STATUSES),
               "collection_mode": list_filter("collection_mode", collection_mode, COLLECTION_MODES)}
    cursor = page_cursor(starting_after, lambda found: session.get(Merchant, found), "merchant")
    rows = repository.list_page(session, **filters, limit=limit, starting_after=cursor)
    return MerchantList(data=[to_out(merchant) for merchant in rows[:limit]], has_more=len(rows) > limit)


def update_merchant(session: Session, clock: Clock, principal: Principal, merchant_id: str,
                    body: MerchantUpdate) -> Merchant:
    """Apply the operator's changes (only the fields given), audited as ``merchant.updated`` with each
    changed field's old and new value (nothing is recorded when nothing changed): fees and limits decide
    what merchants pay and may collect, so who changed them and when must be on record, whether the change
    came through the API or the dashboard."""
    merchant = session.get(Merchant, merchant_id, with_for_update=True)
    if merchant is None:
        raise NotFound("no such merchant", code="merchant_not_found")
    changes = body.model_dump(exclude_unset=True)
    for name, value in changes.items():
        if value is None and name not in MerchantUpdate.NULLABLE:
            raise InvalidRequest(f"{name} cannot be null", code="invalid_request", details={"field": name})
    subject_type = changes.get("subject_type") or merchant.subject_type
    daily_limit = changes.get("daily_limit", merchant.daily_limit)
    if subject_type == "individual" and daily_limit is not None and daily_limit > INDIVIDUAL_DAILY_CEILING:
        raise InvalidRequest(f"an individual merchant's daily limit is at most {INDIVIDUAL_DAILY_CEILING} fen",
                             code="limit_too_high", details={"max": INDIVIDUAL_DAILY_CEILING})
    changed = {name: {"from": getattr(merchant, name), "to": value} for name, value in sorted(changes.items())
               if getattr(merchant, name) != value}
    for name, value in changes.items():
        setattr(merchant, name, value)
    session.flush()
    if changed:
        record(session, clock, actor=actor_of(principal), action="merchant.updated", target_type="merchant",
               target_id=merchant_id, merchant_id=merchant_id, details={"changes": changed})
    return merchant
