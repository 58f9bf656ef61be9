"""API shapes for settlement batches and their payouts (amounts in fen; dates are Beijing business days)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel

from indiepay.settlements.models import Payout, Settlement


class PayoutOut(BaseModel):
    id: str
    object: Literal["payout"] = "payout"
    amount: int
    currency: str
    status: str
    reference: str | None
    failure_code: str | None
    failure_message: str | None
    attempts: int
    created_at: datetime
    updated_at: datetime
    paid_at: datetime | None
    failed_at: datetime | None


class SettlementOut(BaseModel):
    """One batch: ``carried_in + payments_amount − refunds_amount − platform_fee − channel_fee + other_amount
    = net_amount``; ``payout_amount`` is the positive part of it, ``carried_forward`` the negative part."""

    id: str
    object: Literal["settlement"] = "settlement"
    merchant_id: str
    business_date: str
    currency: str
    status: str
    carried_in: int
    payments_amount: int
    refunds_amount: int
    platform_fee: int
    channel_fee: int
    other_amount: int
    net_amount: int
    payout_amount: int
    carried_forward: int
    ledger_entry_id: str | None
    created_at: datetime
    payout: PayoutOut | None


class SettlementList(BaseModel):
    object: Literal["list"] = "list"
    data: list[SettlementOut]
    has_more: bool


def payout_out(payout: Payout) -> PayoutOut:
    return PayoutOut(id=payout.id, amount=payout.amount, currency=payout.currency, status=payout.status,
                     reference=payout.reference, failure_code=payout.failure_code,
                     failure_message=payout.failure_message, attempts=payout.attempts,
                     created_at=payout.created_at, updated_at=payout.updated_at, paid_at=payout.paid_at,
                     failed_at=payout.failed_at)


def settlement_out(settlement: Settlement, payout: Payout | None) -> SettlementOut:
    return SettlementOut(
        id=settlement.id, merchant_id=settlement.merchant_id, business_date=settlement.business_date,
        currency=settlement.currency, status=settlement.status, carried_in=settlement.carried_in,
        payments_amount=settlement.payments_amount, refunds_amount=settlement.refunds_amount,
        platform_fee=settlement.platform_fee, channel_fee=settlement.channel_fee,
        other_amount=settlement.other_amount, net_amount=settlement.net_amount,
        payout_amount=settlement.payout_amount, carried_forward=settlement.carried_forward,
        ledger_entry_id=settlement.ledger_entry_id, created_at=settlement.created_at,
        payout=payout_out(payout) if payout is not None else None)
