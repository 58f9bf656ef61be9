"""Collection limits, as pure rules: per payment and per day, by subject type, per merchant and per
channel account, checked before any channel call.

Defaults come from the settings by subject type (an individual merchant: ¥10,000 a payment and ¥50,000 a
day, configurable up to ¥200,000 a day; an enterprise: ¥100,000 and ¥1,000,000); the operator can give a
merchant its own limits (an individual's daily limit never above ¥200,000), and a channel account its own
daily cap. "Used today" counts the payments of the Beijing business day that may still take or have taken
money (pending and succeeded) less nothing for refunds: a limit bounds what is collected, and a refund
does not give collection capacity back.
"""

from __future__ import annotations

from dataclasses import dataclass

INDIVIDUAL_DAILY_CEILING = 20_000_000  # fen: ¥200,000, the most an individual merchant may be allowed a day


@dataclass(frozen=True)
class Limits:
    single: int  # fen per payment
    daily: int  # fen per business day
    account_daily_cap: int | None  # fen per business day on the chosen account


@dataclass(frozen=True)
class LimitBreach:
    """Which limit a payment would pass, and what remains of it (fen)."""

    limit: str  # single_payment | merchant_daily | account_daily
    amount: int
    value: int
    remaining: int
    used: int = 0  # already used of a daily limit today (0 for the single-payment limit)

    @property
    def message(self) -> str:
        names = {"single_payment": "the single-payment limit", "merchant_daily": "the merchant's daily limit",
                 "account_daily": "the channel account's daily cap"}
        return (f"a payment of {self.amount} fen would pass {names[self.limit]} of {self.value} fen "
                f"({self.remaining} fen remain)")


def effective(*, subject_type: str, defaults: dict[str, tuple[int, int]], single_override: int | None,
              daily_override: int | None, account_daily_cap: int | None) -> Limits:
    """The limits that apply: the merchant's own where set, else its subject type's defaults."""
    default_single, default_daily = defaults[subject_type]
    daily = daily_override if daily_override is not None else default_daily
    if subject_type == "individual":
        daily = min(daily, INDIVIDUAL_DAILY_CEILING)
    return Limits(single=single_override if single_override is not None else default_single, daily=daily,
                  account_daily_cap=account_daily_cap)


def check(limits: Limits, *, amount: int, merchant_used_today: int, account_used_today: int) -> LimitBreach | None:
    """The first limit ``amount`` would pass (single, then merchant daily, then account daily), or None."""
    if amount > limits.single:
        return LimitBreach("single_payment", amount, limits.single, limits.single)
    if merchant_used_today + amount > limits.daily:
        return LimitBreach("merchant_daily", amount, limits.daily, max(limits.daily - merchant_used_today, 0),
                           merchant_used_today)
    cap = limits.account_daily_cap
    if cap is not None and account_used_today + amount > cap:
        return LimitBreach("account_daily", amount, cap, max(cap - account_used_today, 0), account_used_today)
    return None
