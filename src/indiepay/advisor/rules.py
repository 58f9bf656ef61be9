"""The advisor's rules, as pure functions over plain data (no database, no clock of their own).

**Stages** by monthly volume ``V`` (fen; trailing 30 days of succeeded sales less their refunds, live mode):

* startup: ``V < 5,000,000`` (under ¥50,000) → stay on **platform** collection. When the volume is
  *stable* above ¥20,000 — both the trailing-30-day volume and the trailing-90-day volume / 3 are
  strictly above 2,000,000 fen — a reason says to prepare the switch.
* growth: ``5,000,000 ≤ V ≤ 50,000,000`` (¥50,000 to ¥500,000 inclusive) → **independent** collection as
  an enterprise merchant; an individual (``subject_type`` individual) is told to register as an
  enterprise first.
* mature: ``V > 50,000,000`` → **independent** with several accounts, traffic splitting and profit sharing.

**Yearly fee difference** (fen) = yearly fee in platform mode − yearly fee in independent mode, where the
yearly volume is ``max(V, 0) × 12`` and each fee is :func:`indiepay.ledger.fees.fee_for` (Decimal,
ROUND_HALF_UP to the fen) of the **yearly volume** at the mode's total rate, rounded once:

* platform mode: the platform's channel rate + the merchant's ``platform_fee_bps``;
* independent mode: the merchant's own channel rate + the merchant's ``tech_fee_bps``.

Positive: independent collection saves that much a year. It is an estimate of that formula to the fen,
not a forecast of per-payment rounding. A rate above 10,000 bps (100 %) is capped there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal

from indiepay.ledger import fees

Stage = Literal["startup", "growth", "mature"]
CollectionMode = Literal["platform", "independent"]

STARTUP_CEILING = 5_000_000  # fen: a startup moves less than ¥50,000 a month
MATURE_FLOOR = 50_000_000  # fen: a mature merchant moves more than ¥500,000 a month
STABLE_FLOOR = 2_000_000  # fen: ¥20,000 a month, held for both 30 and 90 days, means "prepare the switch"
DEFAULT_RATE_BPS = 60  # the standard WeChat Pay / Alipay rate when no account says otherwise
MAX_RATE_BPS = 10_000
EXPIRY_WARNING = timedelta(days=30)
CHECKLIST_ITEMS = ("kyc_complete", "production_account_verified", "backup_account_other_bank",
                   "keys_not_near_expiry")


@dataclass(frozen=True)
class ChecklistItem:
    item: str
    done: bool


@dataclass(frozen=True)
class AccountFacts:
    """What the checklist needs to know about one of the merchant's active accounts in the environment."""

    role: str  # primary | backup
    verified: bool
    settlement_bank: str | None
    credentials_expire_at: datetime | None


@dataclass(frozen=True)
class FeeComparison:
    yearly_volume: int
    platform_rate_bps: int  # platform channel rate + platform service fee
    independent_rate_bps: int  # own channel rate + technology fee
    platform_fee: int
    independent_fee: int

    @property
    def difference(self) -> int:
        """Platform-mode fee − independent-mode fee, per year (positive: independent saves this)."""
        return self.platform_fee - self.independent_fee


@dataclass(frozen=True)
class Inputs:
    monthly_volume: int  # trailing 30 days, net of refunds (fen)
    volume_90d: int  # trailing 90 days, net of refunds (fen)
    subject_type: str  # individual | enterprise
    current_mode: str
    platform_channel_bps: int
    platform_fee_bps: int
    own_channel_bps: int
    tech_fee_bps: int


@dataclass(frozen=True)
class Advice:
    stage: Stage
    recommended_mode: CollectionMode
    fees: FeeComparison
    reasons: tuple[str, ...]


def stage_for(monthly_volume: int) -> Stage:
    if monthly_volume < STARTUP_CEILING:
        return "startup"
    if monthly_volume <= MATURE_FLOOR:
        return "growth"
    return "mature"


def is_stable(volume_30d: int, volume_90d: int) -> bool:
    """Both the last 30 days and the 90-day monthly average are above ¥20,000 (``v90 / 3 > floor`` is
    tested as ``v90 > 3 × floor``, so no division rounds)."""
    return volume_30d > STABLE_FLOOR and volume_90d > 3 * STABLE_FLOOR


def yearly_fee(yearly_volume: int, rate_bps: int) -> int:
    return fees.fee_for(yearly_volume, fees.bps(min(max(rate_bps, 0), MAX_RATE_BPS)))


def compare_fees(inputs: Inputs) -> FeeComparison:
    yearly = max(inputs.monthly_volume, 0) * 12
    platform_bps = inputs.platform_channel_bps + inputs.platform_fee_bps
    independent_bps = inputs.own_channel_bps + inputs.tech_fee_bps
    return FeeComparison(yearly_volume=yearly, platform_rate_bps=platform_bps, independent_rate_bps=independent_bps,
                         platform_fee=yearly_fee(yearly, platform_bps),
                         independent_fee=yearly_fee(yearly, independent_bps))


def yuan(fen: int) -> str:
    """``¥1,234,567.89`` (``-¥…`` when negative): exact, from integer fen."""
    whole, part = divmod(abs(fen), 100)
    return f"{'-' if fen < 0 else ''}¥{whole:,}.{part:02d}"


def percent(bps: int) -> str:
    """60 → ``0.60%``."""
    return f"{Decimal(bps) / Decimal(100):.2f}%"


def advise(inputs: Inputs) -> Advice:
    """The recommendation for a merchant at its volume, with reasons that quote the figures."""
    stage = stage_for(inputs.monthly_volume)
    comparison = compare_fees(inputs)
    reasons = [f"Net volume over the last 30 days is {yuan(inputs.monthly_volume)} "
               f"({yuan(inputs.volume_90d)} over 90 days): the {stage} stage "
               f"({_stage_range(stage)} a month)."]
    mode: CollectionMode
    if stage == "startup":
        mode = "platform"
        reasons.append("Stay on platform collection: below ¥50,000.00 a month your own merchant accounts would "
                       "cost more effort than they save, and the platform handles the channels for you.")
        if is_stable(inputs.monthly_volume, inputs.volume_90d):
            reasons.append(f"Your volume is stable above ¥20,000.00 a month ({yuan(inputs.monthly_volume)} in "
                           f"the last 30 days, {yuan(inputs.volume_90d // 3)} a month on average over 90 days): "
                           "prepare the switch to independent collection by applying for your own "
                           "WeChat Pay / Alipay merchant accounts now.")
    elif stage == "growth":
        mode = "independent"
        reasons.append("Switch to independent collection through your own WeChat Pay / Alipay merchant "
                       "accounts, as an enterprise merchant.")
        if inputs.subject_type == "individual":
            reasons.append("You are registered as an individual: register as an enterprise (business licence) "
                           "first, then apply for enterprise merchant accounts.")
    else:
        mode = "independent"
        reasons.append("Use independent collection with several merchant accounts: split traffic between them "
                       "(with a backup account at another bank) and use profit sharing to pay your distributors.")
    reasons.append(_fee_reason(comparison, inputs))
    if inputs.current_mode == mode:
        reasons.append(f"You already use {mode} collection.")
    return Advice(stage=stage, recommended_mode=mode, fees=comparison, reasons=tuple(reasons))


def _stage_range(stage: Stage) -> str:
    return {"startup": "under ¥50,000.00", "growth": "¥50,000.00 to ¥500,000.00",
            "mature": "over ¥500,000.00"}[stage]


def _fee_reason(comparison: FeeComparison, inputs: Inputs) -> str:
    basis = (f"On {yuan(comparison.yearly_volume)} a year (12 × the last 30 days), platform collection costs "
             f"{yuan(comparison.platform_fee)} ({percent(comparison.platform_rate_bps)}: channel "
             f"{percent(inputs.platform_channel_bps)} + service fee {percent(inputs.platform_fee_bps)}) and "
             f"independent collection {yuan(comparison.independent_fee)} "
             f"({percent(comparison.independent_rate_bps)}: your channel rate {percent(inputs.own_channel_bps)} "
             f"+ technology fee {percent(inputs.tech_fee_bps)})")
    difference = comparison.difference
    if difference > 0:
        return f"{basis}: independent collection saves {yuan(difference)} a year."
    if difference < 0:
        return f"{basis}: independent collection costs {yuan(-difference)} more a year."
    return f"{basis}: both cost the same."


def _bank(name: str | None) -> str | None:
    """Bank names compared without case or spacing differences (``ICBC`` = `` icbc``)."""
    folded = " ".join((name or "").split()).casefold()
    return folded or None


def checklist(*, kyc_status: str, accounts: Sequence[AccountFacts], now: datetime) -> list[ChecklistItem]:
    """The readiness checklist for independent collection, in :data:`CHECKLIST_ITEMS` order.

    ``accounts`` are the merchant's own *active* accounts in the environment that counts (production for
    live, sandbox for test). A backup counts when both it and a primary name a settlement bank and the two
    differ (an unknown bank proves nothing); credentials count as near expiry when they expire within
    30 days of ``now`` (or already have); an unknown expiry counts as fine.
    """
    primary_banks = {_bank(a.settlement_bank) for a in accounts if a.role == "primary"} - {None}
    backup_elsewhere = any(a.role == "backup" and _bank(a.settlement_bank) is not None
                           and any(_bank(a.settlement_bank) != bank for bank in primary_banks) for a in accounts)
    horizon = now + EXPIRY_WARNING
    fresh = all(a.credentials_expire_at is None or a.credentials_expire_at > horizon for a in accounts)
    done = {"kyc_complete": kyc_status == "complete",
            "production_account_verified": any(a.verified for a in accounts),
            "backup_account_other_bank": backup_elsewhere,
            "keys_not_near_expiry": fresh}
    return [ChecklistItem(item=item, done=done[item]) for item in CHECKLIST_ITEMS]
