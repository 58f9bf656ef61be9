"""API shapes for statements and tax summaries. Every amount is integer fen; counts are plain integers.

``StatementBody`` is also the stored document: the service builds it, stores ``model_dump(mode="json")``
and hashes that canonical JSON, so the body a client receives is the one whose ``body_sha256`` it can
check. Unknown fields are refused so that the stored, the hashed and the served body cannot drift apart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict

BODY_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Figures(_Strict):
    """Volume and fees; ``*_fee`` are net of the shares refunds gave back; ``net`` = gross − refunds − fees −
    (shared − shares_returned)."""

    payment_count: int
    refund_count: int
    gross: int
    refunds: int
    channel_fee_charged: int
    channel_fee_returned: int
    channel_fee: int
    platform_fee_charged: int
    platform_fee_returned: int
    platform_fee: int  # platform service fee (platform mode) / technology fee (independent mode)
    shared: int = 0  # independent mode: sent from the merchant's own channel account to its receivers (分账)
    shares_returned: int = 0  # … and taken back (分账回退)
    net: int


class StatementLine(Figures):
    channel: str
    mode: Literal["platform", "independent"]


class ModeTotals(Figures):
    mode: Literal["platform", "independent"]


class Summary(Figures):
    other_fees: int  # platform fees charged on their own (not on a payment)
    profit_shared: int
    adjustments: int  # corrections credited (+) or debited (−) to what the platform owes the merchant
    settled: int
    paid_out: int
    payouts_returned: int


class AccountCheck(_Strict):
    """The month's change of one of the merchant's ledger accounts, as people read it (natural sign).

    ``ledger_change`` is summed straight from the postings; ``from_figures`` is what the statement's
    figures imply; ``adjustments`` is what corrections did. ``ok``: ledger_change = from_figures + adjustments.
    """

    account: str
    ledger_change: int
    from_figures: int
    adjustments: int
    ok: bool


class PayableBalance(_Strict):
    """What the platform owes the merchant (negative: the merchant owes the platform)."""

    opening: int
    change: int
    closing: int


class Reconciliation(_Strict):
    merchant_payable: PayableBalance
    accounts: list[AccountCheck]
    balanced: bool


class LedgerRange(_Strict):
    entry_count: int
    adjustment_count: int
    last_sequence: int | None


class StatementBody(_Strict):
    object: Literal["statement_body"] = "statement_body"
    version: int = BODY_VERSION
    merchant_id: str
    merchant_name: str
    month: str
    currency: str
    timezone: str
    period_start: str  # UTC, inclusive
    period_end: str  # UTC, exclusive
    summary: Summary
    by_mode: list[ModeTotals]
    lines: list[StatementLine]
    reconciliation: Reconciliation
    ledger: LedgerRange


class StatementOut(BaseModel):
    object: Literal["statement"] = "statement"
    id: str
    merchant_id: str
    month: str
    currency: str
    status: Literal["draft", "final"]
    generated_at: datetime
    body_sha256: str  # sha256 of the canonical JSON of ``body`` (sorted keys, no spaces, UTF-8)
    body: StatementBody


class TaxModeLine(_Strict):
    mode: Literal["platform", "independent"]
    gross: int
    refunds: int
    taxable_sales: int  # gross − refunds
    fees_to_channels: int
    fees_to_platform: int


class PlatformFeeVat(_Strict):
    """The platform's fees as one VAT-inclusive amount split at ``vat_rate``."""

    total_incl_vat: int
    vat: int  # round_half_up(total × 6 / 106)
    excl_vat: int  # total − vat


class TaxSummary(_Strict):
    object: Literal["tax_summary"] = "tax_summary"
    merchant_id: str
    merchant_name: str
    month: str
    currency: str
    status: Literal["draft", "final"]
    statement_sha256: str  # the statement body the figures were taken from
    vat_rate: str
    rule: str
    by_mode: list[TaxModeLine]
    taxable_sales: int
    fees_to_channels: int
    fees_to_platform: int
    other_platform_fees: int
    platform_fee_vat: PlatformFeeVat
