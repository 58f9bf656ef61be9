"""Settlement rules as plain functions over plain data: business-day windows, the breakdown of a day,
and which clearing accounts fund a payout. No database here; everything is unit-tested on its own.

Business day ``D`` is ``[D 00:00, D+1 00:00)`` in Asia/Shanghai, which has had no daylight saving time
since 1991, so every day is exactly 24 hours; the windows are still computed through ``zoneinfo`` so the
result never depends on the server's ``TZ``. ``cutoff(D)`` is the first instant *after* day ``D``.

What a settlement pays is a balance, not a sum of the day: ``net`` is what the platform owes the merchant
(the natural balance of ``merchant_payable``) over every entry that occurred before the cutoff. Earlier
settlements, returned payouts and entries posted late for an earlier day are therefore all included
without special cases, and a negative balance (refunds exceeding payments) simply carries forward. The
breakdown explains the day's movement of that balance; ``carried_in`` is whatever was owed before it, so
``carried_in + payments − refunds − platform_fee − channel_fee + other = net`` holds by construction.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta

from indiepay.core.clock import BUSINESS_TZ, as_utc, business_day, business_day_start
from indiepay.core.errors import InvalidRequest

SETTLED = "settled"
NOTHING_TO_PAY = "nothing_to_pay"
RUN_HOUR = 2  # the daily run settles yesterday at 02:00 Beijing time, after late callbacks have landed
ONE_MICROSECOND = timedelta(microseconds=1)
PAYOUT_RETRY_SECONDS = (30, 60, 120, 300, 600, 1800, 3600)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_business_date(text: str) -> date:
    """``YYYY-MM-DD`` as a calendar date.

    Raises:
        InvalidRequest (``invalid_date``): anything else (other formats, impossible dates like 02-30).
    """
    if not isinstance(text, str) or not _DATE.fullmatch(text.strip()):
        raise InvalidRequest(f"a business date is written YYYY-MM-DD, got {text!r}", code="invalid_date")
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise InvalidRequest(f"{text!r} is not a calendar date", code="invalid_date") from exc


def day_start(day: date) -> datetime:
    """00:00 Beijing time on ``day``, as aware UTC."""
    return business_day_start(day)


def cutoff(day: date) -> datetime:
    """The end of business day ``day`` (exclusive): 00:00 Beijing time the next day, as aware UTC."""
    return day_start(day + timedelta(days=1))


def day_window(day: date) -> tuple[datetime, datetime]:
    """``[start, cutoff)`` of business day ``day`` in aware UTC."""
    return day_start(day), cutoff(day)


def settlement_instant(day: date) -> datetime:
    """When a settlement entry for ``day`` occurs: the last microsecond of the day, so it belongs to ``day``
    and the next day's net (everything before the next cutoff) includes it."""
    return cutoff(day) - ONE_MICROSECOND


def run_at(day: date) -> datetime:
    """When the scheduler settles ``day``: 02:00 Beijing time the following day, as aware UTC."""
    return datetime.combine(day + timedelta(days=1), time(RUN_HOUR), tzinfo=BUSINESS_TZ).astimezone(UTC)


def is_over(day: date, now: datetime) -> bool:
    """Has business day ``day`` ended at ``now``?"""
    return as_utc(now) >= cutoff(day)


def last_closed_day(now: datetime) -> date:
    """The most recent business day that has ended at ``now`` (yesterday in Beijing)."""
    return business_day(now) - timedelta(days=1)


@dataclass(frozen=True)
class DayFigures:
    """Signed ledger sums (debit positive) for one merchant and currency, as read from the ledger.

    ``payable_*`` are postings on ``merchant_payable:<mch>:<cur>`` (``payable_postings`` counts those before
    the cutoff: a merchant without any is not settled at all); ``pay_*`` and ``refund_*`` are the
    payable, platform-fee-revenue and channel-fee-recharged postings of the day's *platform-collection*
    payment and refund entries. The figures of disjoint sets of entries add up (used to merge the bulk
    read with the few entries posted while it ran).
    """

    payable_postings: int = 0
    payable_before_cutoff: int = 0
    payable_in_day: int = 0
    payable_postings_in_day: int = 0
    pay_payable: int = 0
    pay_platform_fee: int = 0
    pay_channel_fee: int = 0
    refund_payable: int = 0
    refund_platform_fee: int = 0
    refund_channel_fee: int = 0

    def __add__(self, other: DayFigures) -> DayFigures:
        return DayFigures(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})


@dataclass(frozen=True)
class Breakdown:
    """A settlement batch's figures, in fen (what the ``settlements`` row stores)."""

    payments_amount: int
    refunds_amount: int
    platform_fee: int
    channel_fee: int
    other_amount: int
    carried_in: int
    net_amount: int
    has_activity: bool

    @property
    def payout_amount(self) -> int:
        return max(self.net_amount, 0)

    @property
    def carried_forward(self) -> int:
        return min(self.net_amount, 0)

    @property
    def status(self) -> str:
        return SETTLED if self.net_amount > 0 else NOTHING_TO_PAY

    @property
    def worth_a_batch(self) -> bool:
        """No empty batches: a merchant owed nothing with no movement that day gets none."""
        return self.net_amount != 0 or self.has_activity


def breakdown(figures: DayFigures) -> Breakdown:
    """Turn signed ledger sums into a batch's natural (what-we-owe-is-positive) figures.

    A platform-collection payment credits the payable ``A − P − C``, the fee revenue ``P`` and the
    recharged channel fee ``C``, so its gross is minus their sum; a refund debits the same three with the
    returned shares. ``other`` is the rest of the day's payable movement (technology fees of independent
    payments, returned payouts, corrections, stand-alone fees).
    """
    net = -figures.payable_before_cutoff
    movement = -figures.payable_in_day
    payments = -(figures.pay_payable + figures.pay_platform_fee + figures.pay_channel_fee)
    refunds = figures.refund_payable + figures.refund_platform_fee + figures.refund_channel_fee
    platform_fee = -(figures.pay_platform_fee + figures.refund_platform_fee)
    channel_fee = -(figures.pay_channel_fee + figures.refund_channel_fee)
    explained = payments - refunds - platform_fee - channel_fee
    active = figures.payable_postings_in_day > 0 or any((payments, refunds, platform_fee, channel_fee))
    return Breakdown(payments_amount=payments, refunds_amount=refunds, platform_fee=platform_fee,
                     channel_fee=channel_fee, other_amount=movement - explained, carried_in=net - movement,
                     net_amount=net, has_activity=active)


def allocate_payout(amount: int, balances: Mapping[str, int]) -> list[tuple[str, int]]:
    """Which clearing accounts (by channel) a payout of ``amount`` is drawn from.

    Greedy: the largest balance first, ties broken by channel name, each drained before the next. If the
    books hold less than ``amount`` in total (they should not: a payout is only sent when they hold
    enough), the shortfall is drawn from the first account, which then shows the overdraft.

    Raises:
        InvalidRequest: ``amount`` is not positive or there is no clearing account to draw from.
    """
    if amount <= 0:
        raise InvalidRequest("a payout amount must be positive", code="invalid_amount")
    if not balances:
        raise InvalidRequest("no platform clearing account to pay out from", code="no_clearing_account")
    order: Sequence[tuple[str, int]] = sorted(balances.items(), key=lambda item: (-item[1], item[0]))
    plan: dict[str, int] = {}
    left = amount
    for channel, balance in order:
        take = min(max(balance, 0), left)
        if take > 0:
            plan[channel] = take
            left -= take
    if left > 0:
        first = order[0][0]
        plan[first] = plan.get(first, 0) + left
    return [(channel, plan[channel]) for channel, _ in order if channel in plan]


def available_for_payout(balances: Mapping[str, int]) -> int:
    """What the clearing accounts hold in total (overdrawn accounts count as holding nothing)."""
    return sum(max(balance, 0) for balance in balances.values())


def payout_retry_delay(attempts: int) -> timedelta:
    """How long to wait before asking again about a payout whose outcome is unknown (30 s … 1 h, then hourly)."""
    index = min(max(attempts - 1, 0), len(PAYOUT_RETRY_SECONDS) - 1)
    return timedelta(seconds=PAYOUT_RETRY_SECONDS[index])
