"""API shapes for the advisor. Amounts are integer fen, rates basis points (1 bp = 0.01 %)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel


class ChecklistItemOut(BaseModel):
    item: str
    done: bool


class RatesOut(BaseModel):
    platform_channel_bps: int
    platform_fee_bps: int
    own_channel_bps: int
    tech_fee_bps: int
    platform_total_bps: int
    independent_total_bps: int


class AdvisorOut(BaseModel):
    object: Literal["advice"] = "advice"
    merchant_id: str
    livemode: bool
    currency: Literal["CNY"] = "CNY"
    stage: Literal["startup", "growth", "mature"]
    recommended_mode: Literal["platform", "independent"]
    current_mode: str
    subject_type: str
    monthly_volume: int  # trailing 30 days, succeeded payments less refunds
    volume_90d: int
    yearly_volume: int  # max(monthly_volume, 0) × 12
    yearly_fee_platform: int
    yearly_fee_independent: int
    yearly_fee_difference: int  # platform − independent (positive: independent saves this much a year)
    rates: RatesOut
    reasons: list[str]
    checklist: list[ChecklistItemOut]
    ready: bool  # every checklist item done (for a test key: over its sandbox accounts, a rehearsal)
