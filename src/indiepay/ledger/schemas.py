"""API shapes for the ledger (amounts in fen; ``balance`` is debit-positive, ``natural`` as people read it)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel


class BalanceOut(BaseModel):
    account: str
    kind: str
    merchant_id: str | None
    channel: str | None
    currency: str
    balance: int
    natural: int


class BalanceList(BaseModel):
    object: Literal["list"] = "list"
    data: list[BalanceOut]


class PostingOut(BaseModel):
    account: str
    amount: int


class EntryOut(BaseModel):
    id: str
    sequence: int
    event_key: str
    event_type: str
    merchant_id: str | None
    description: str
    occurred_at: datetime
    reverses_entry_id: str | None
    postings: list[PostingOut]


class EntryList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EntryOut]
    has_more: bool
    next_cursor: int | None
