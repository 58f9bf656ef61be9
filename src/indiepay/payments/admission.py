"""Admitting a new payment, before anything is written or sent: the merchant's limits, the account it goes
to, and the risk rules — in that order, inside the creating transaction with the merchant row locked.

Why one module: the three steps read the same figures. One statement reads the merchant's counted volume
today, the rules' recent counts (:func:`indiepay.risk.features.measure_recent`) and, for a merchant that
collects on its own accounts, those accounts (carried as one JSON column); the limits read the volume,
routing reads the accounts and their own usage, the rules read everything. Refusals raise the
domain errors the API renders (``limit_exceeded``, ``account_suspended``, ``no_channel_account``,
``channel_unavailable``, ``risk_blocked``), so nothing is written and no channel is called.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.rules import cap_warning_levels
from indiepay.alerts.service import warn_daily_cap
from indiepay.context import ServiceContext
from indiepay.core.clock import business_day
from indiepay.core.errors import NotFound, Unprocessable
from indiepay.merchants.models import Merchant
from indiepay.risk import features, limits, screening
from indiepay.routing import repository as routing_repository
from indiepay.routing import service as routing


@dataclass(frozen=True)
class Admission:
    """Where an admitted payment goes, in which collection mode and at which platform fee rate."""

    account: ChannelAccount
    collection_mode: str
    platform_fee_bps: int


def admit(session: Session, ctx: ServiceContext, merchant: Merchant, *, livemode: bool, method: str, channel: str,
          amount: int, payer: Mapping[str, Any], payment_id: str, reference: str, now: datetime,
          verify_account_id: str | None = None) -> Admission:
    """Check limits, choose the account and screen the payment; the merchant row must be locked.

    A verification payment (``verify_account_id``) goes to the one account it verifies, in independent
    mode and without a platform fee; any other payment follows the merchant's collection mode and is
    routed among its (or the platform's) accounts.

    Raises:
        Unprocessable / NotFound / ChannelUnavailable as the module docstring lists; RiskBlocked.
    """
    environment = "production" if livemode else "sandbox"
    day = business_day(now)
    ruleset = screening.active_ruleset(ctx, session)
    own_accounts = verify_account_id is None and merchant.collection_mode != "platform"
    carry = (features.Carried("merchant_accounts", routing_repository.MERCHANT_ACCOUNTS_JSON,
                              routing_repository.merchant_accounts_params(merchant.id, channel, environment))
             if own_accounts else None)  # routing's accounts ride in the measure's statement
    recent = features.measure_recent(session, ruleset, merchant_id=merchant.id, livemode=livemode, payer=payer,
                                     now=now, carry=carry)
    applicable = _limits(ctx, merchant)
    if verify_account_id is not None:
        account = _verified_account(session, merchant, verify_account_id, channel, environment)
        account_used = recent.used_today_by_account.get(account.id, 0)  # the merchant's own account
        _refuse_breach(limits.check(limits.Limits(applicable.single, applicable.daily, account.daily_cap),
                                    amount=amount, merchant_used_today=recent.used_today,
                                    account_used_today=account_used), amount)
        admission = Admission(account, "independent", 0)
    else:
        _refuse_breach(limits.check(applicable, amount=amount, merchant_used_today=recent.used_today,
                                    account_used_today=0), amount)
        platform = merchant.collection_mode == "platform"
        try:
            chosen = routing.choose_account(session, ctx.health, merchant_id=None if platform else merchant.id,
                                             channel=channel, environment=environment, method=method,
                                             amount=amount, day=day,
                                             used_today=recent.used_today_by_account,
                                             accounts=(routing_repository.accounts_from_json(recent.carried)
                                                       if own_accounts else None))
        except Unprocessable as refused:
            if refused.code == "no_channel_account":  # say which mode looked for accounts
                refused.details["collection_mode"] = merchant.collection_mode
            raise
        admission = Admission(chosen.account, merchant.collection_mode,
                              merchant.platform_fee_bps if platform else merchant.tech_fee_bps)
    screening.screen_payment(session, ctx, merchant, ruleset=ruleset, recent=recent, payment_id=payment_id,
                             livemode=livemode, amount=amount, reference=reference, payer=payer,
                             daily_limit=applicable.daily, now=now)
    if verify_account_id is None and livemode:
        _warn_caps(session, ctx, merchant, chosen, daily=applicable.daily, merchant_used=recent.used_today,
                   amount=amount, day=day)
    return admission


def _warn_caps(session: Session, ctx: ServiceContext, merchant: Merchant, chosen: routing.Chosen, *, daily: int,
               merchant_used: int, amount: int, day: date) -> None:
    """Warn (once per level and business ``day``) when this payment takes the merchant's daily limit or its
    account's daily cap to 80 % or 100 %. Live payments only: test traffic is not money the limits protect."""
    if cap_warning_levels(daily, merchant_used, merchant_used + amount):
        warn_daily_cap(session, ctx.clock, merchant_id=merchant.id, scope="merchant", scope_id=merchant.id,
                       cap=daily, used_before=merchant_used, used_after=merchant_used + amount, business_day=day)
    account, used = chosen.account, chosen.used_today
    if account.daily_cap is not None and used is not None and cap_warning_levels(account.daily_cap, used,
                                                                                 used + amount):
        warn_daily_cap(session, ctx.clock, merchant_id=account.merchant_id, scope="channel_account",
                       scope_id=account.id, cap=account.daily_cap, used_before=used, used_after=used + amount,
                       business_day=day)


def _limits(ctx: ServiceContext, merchant: Merchant) -> limits.Limits:
    settings = ctx.settings
    defaults = {"individual": (settings.individual_single_limit, settings.individual_daily_limit),
                "enterprise": (settings.enterprise_single_limit, settings.enterprise_daily_limit)}
    return limits.effective(subject_type=merchant.subject_type, defaults=defaults,
                            single_override=merchant.single_limit, daily_override=merchant.daily_limit,
                            account_daily_cap=None)


def _refuse_breach(breach: limits.LimitBreach | None, amount: int) -> None:
    if breach is not None:
        raise Unprocessable(breach.message, code="limit_exceeded",
                            details={"limit": breach.limit, "value": breach.value, "used": breach.used,
                                     "remaining": breach.remaining, "amount": amount})


def _verified_account(session: Session, merchant: Merchant, account_id: str, channel: str,
                      environment: str) -> ChannelAccount:
    account = session.get(ChannelAccount, account_id)
    if (account is None or account.merchant_id != merchant.id or account.environment != environment
            or account.channel != channel):
        raise NotFound("no such channel account", code="account_not_found")
    if account.status != "active":
        raise Unprocessable("the channel account is suspended", code="account_suspended")
    return account
