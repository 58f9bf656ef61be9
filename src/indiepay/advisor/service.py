"""The advisor over a merchant's real data: volumes, rates and accounts go in, :mod:`rules` decides.

Live mode (a live key, the admin, the CLI) reads live payments and **production** accounts; test mode
reads test payments and **sandbox** accounts, so a test key can try the advisor without ever seeing live
figures. Its readiness checklist is then a rehearsal over the sandbox accounts: the switch of collection
mode governs live money, so only the live key or the operator makes it, against the production accounts.

Rates. The merchant's own channel rate is the **highest** ``fee_rate_bps`` among its active accounts in the
environment, and the platform's channel rate the **lowest** among the platform's own active accounts
(``owner='platform'``); either defaults to 60 bps when there is no such account. Taking the dearer own
rate and the cheaper platform rate means the quoted saving of independent collection is never overstated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from indiepay.advisor import repository, rules
from indiepay.advisor.rules import AccountFacts, Advice, ChecklistItem
from indiepay.advisor.schemas import AdvisorOut, ChecklistItemOut, RatesOut
from indiepay.core.clock import Clock
from indiepay.core.errors import NotFound
from indiepay.merchants.models import Merchant

WINDOW_30D = timedelta(days=30)
WINDOW_90D = timedelta(days=90)


@dataclass(frozen=True)
class Report:
    merchant_id: str
    livemode: bool
    current_mode: str
    subject_type: str
    inputs: rules.Inputs
    advice: Advice
    checklist: list[ChecklistItem]


def _environment(livemode: bool) -> str:
    return "production" if livemode else "sandbox"


def _merchant(session: Session, merchant_id: str) -> Merchant:
    merchant = session.get(Merchant, merchant_id)
    if merchant is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
    return merchant


def readiness(session: Session, merchant_id: str, clock: Clock, *, livemode: bool) -> list[ChecklistItem]:
    """Whether the merchant is ready for independent collection, item by item (see
    :func:`indiepay.advisor.rules.checklist`). Reads only; safe inside any transaction.

    Args:
        livemode: True checks the merchant's production accounts, False its sandbox accounts.

    Returns:
        ``kyc_complete``, ``production_account_verified``, ``backup_account_other_bank`` and
        ``keys_not_near_expiry``, in that order.

    Raises:
        NotFound (``merchant_not_found``).
    """
    merchant = _merchant(session, merchant_id)
    return _checklist(session, merchant, clock, livemode)


def _checklist(session: Session, merchant: Merchant, clock: Clock, livemode: bool) -> list[ChecklistItem]:
    accounts = repository.own_accounts(session, merchant.id, _environment(livemode))
    facts = [AccountFacts(role=a.role, verified=a.verified_at is not None, settlement_bank=a.settlement_bank,
                          credentials_expire_at=a.credentials_expire_at) for a in accounts]
    return rules.checklist(kyc_status=merchant.kyc_status, accounts=facts, now=clock.now())


def readiness_checklist(clock: Clock) -> Callable[[Session, str, bool], list[dict[str, Any]]]:
    """:func:`readiness` in the shape a refused collection-mode switch lists its unmet items with
    (:data:`indiepay.merchants.collection_mode.Checklist`), for the API and the dashboard alike."""
    def checklist(session: Session, merchant_id: str, livemode: bool) -> list[dict[str, Any]]:
        return [asdict(item) for item in readiness(session, merchant_id, clock, livemode=livemode)]

    return checklist


def advise(session: Session, clock: Clock, merchant_id: str, *, livemode: bool) -> Report:
    """Stage, recommended mode, yearly fee difference, reasons and readiness checklist for a merchant.

    Raises:
        NotFound (``merchant_not_found``).
    """
    merchant = _merchant(session, merchant_id)
    now = clock.now()
    environment = _environment(livemode)
    own_rates = [a.fee_rate_bps for a in repository.own_accounts(session, merchant.id, environment)]
    platform_rate = repository.platform_rate_bps(session, environment)
    inputs = rules.Inputs(
        monthly_volume=repository.net_volume(session, merchant.id, livemode=livemode, since=now - WINDOW_30D,
                                             until=now),
        volume_90d=repository.net_volume(session, merchant.id, livemode=livemode, since=now - WINDOW_90D,
                                         until=now),
        subject_type=merchant.subject_type, current_mode=merchant.collection_mode,
        platform_channel_bps=rules.DEFAULT_RATE_BPS if platform_rate is None else platform_rate,
        platform_fee_bps=merchant.platform_fee_bps,
        own_channel_bps=max(own_rates, default=rules.DEFAULT_RATE_BPS),
        tech_fee_bps=merchant.tech_fee_bps)
    return Report(merchant_id=merchant.id, livemode=livemode, current_mode=merchant.collection_mode,
                  subject_type=merchant.subject_type, inputs=inputs, advice=rules.advise(inputs),
                  checklist=_checklist(session, merchant, clock, livemode))


def to_out(report: Report) -> AdvisorOut:
    """The API / CLI shape of a report."""
    advice, inputs = report.advice, report.inputs
    return AdvisorOut(
        merchant_id=report.merchant_id, livemode=report.livemode, stage=advice.stage,
        recommended_mode=advice.recommended_mode, current_mode=report.current_mode,
        subject_type=report.subject_type, monthly_volume=inputs.monthly_volume, volume_90d=inputs.volume_90d,
        yearly_volume=advice.fees.yearly_volume, yearly_fee_platform=advice.fees.platform_fee,
        yearly_fee_independent=advice.fees.independent_fee, yearly_fee_difference=advice.fees.difference,
        rates=RatesOut(platform_channel_bps=inputs.platform_channel_bps, platform_fee_bps=inputs.platform_fee_bps,
                       own_channel_bps=inputs.own_channel_bps, tech_fee_bps=inputs.tech_fee_bps,
                       platform_total_bps=advice.fees.platform_rate_bps,
                       independent_total_bps=advice.fees.independent_rate_bps),
        reasons=list(advice.reasons),
        checklist=[ChecklistItemOut(item=item.item, done=item.done) for item in report.checklist],
        ready=all(item.done for item in report.checklist))
