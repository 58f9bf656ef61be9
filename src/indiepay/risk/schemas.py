"""API shapes of the kill switch and of the risk rules and decisions."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class SwitchIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    reason: str = Field(min_length=1, max_length=500)


class SuspensionOut(BaseModel):
    id: str
    target_type: str
    target_id: str
    action: str
    reason: str
    actor: str
    created_at: datetime


class SwitchOut(BaseModel):
    id: str
    status: str
    history: list[SuspensionOut]


class RuleOut(BaseModel):
    id: str
    version: int
    kind: str
    params: dict[str, int | str]
    outcome: str
    shadow: bool
    applies_to: str


class RuleIn(BaseModel):
    """One rule of a proposed rule set; its version is assigned by the platform."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")
    kind: str = Field(min_length=1, max_length=32)
    params: dict[str, int | str]
    outcome: Literal["allow", "review", "block"]
    shadow: bool = False
    applies_to: Literal["payment", "refund", "both"] = "payment"


class RuleSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RuleIn] = Field(max_length=200)
    note: str = Field(default="", max_length=500)


class RuleSetOut(BaseModel):
    version: str
    shadow_mode: bool  # INDIEPAY_RISK_SHADOW: every rule runs in shadow mode
    rules: list[RuleOut]


class RuleHitOut(BaseModel):
    rule_id: str
    version: int
    outcome: str
    shadow: bool
    reason: str


class DecisionOut(BaseModel):
    id: str
    object: Literal["risk_decision"] = "risk_decision"
    object_type: str
    object_id: str | None
    reference: str
    merchant_id: str
    livemode: bool
    amount: int
    payer: dict[str, Any]
    ruleset_version: str
    outcome: str
    shadow_outcome: str
    rule_id: str | None
    rule_version: int | None
    hits: list[RuleHitOut]
    created_at: datetime


class DecisionList(BaseModel):
    object: Literal["list"] = "list"
    data: list[DecisionOut]
    has_more: bool
