"""Fee arithmetic, in integer fen, with Decimal rates and explicit rounding (never float).

Rules:

* A fee on a payment is ``amount × rate`` rounded **ROUND_HALF_UP to the whole fen**, once per payment
  (0.6 % of 1 fen is 0.006 fen → 0; of 84 fen is 0.504 → 1; of 83 fen is 0.498 → 0). Rates are a Decimal
  fraction (``Decimal("0.006")``) or basis points (:func:`bps`, 60 bps = 0.6 %). A fee never exceeds the
  amount.
* A refund returns the fee **proportionally and cumulatively**: after refunds totalling ``R`` of a
  payment ``A`` that was charged fee ``F``, the fee returned so far is ``round_half_up(F × R / A)``, and
  each refund returns the difference between that figure after and before it. Hence a full refund (in
  one go or in many parts) returns exactly ``F``, partial refunds never return more than ``F`` in total,
  each refund returns ≥ 0, and no fen is lost or created by rounding.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from indiepay.core.errors import InvalidRequest

BPS = Decimal("0.0001")
STANDARD_CHANNEL_RATE = Decimal("0.006")  # WeChat Pay / Alipay standard merchant rate, 0.6 %


def bps(points: int) -> Decimal:
    """A rate given in basis points (1 bp = 0.01 %)."""
    if points < 0:
        raise InvalidRequest("a fee rate cannot be negative", code="invalid_fee_rate")
    return Decimal(points) * BPS


def _check_rate(rate: Decimal) -> None:
    if not isinstance(rate, Decimal) or not rate.is_finite() or rate < 0 or rate > 1:
        raise InvalidRequest(f"a fee rate must be a Decimal in [0, 1], got {rate!r}", code="invalid_fee_rate")


def _round_fen(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fee_for(amount: int, rate: Decimal) -> int:
    """The fee on a payment of ``amount`` fen: ``amount × rate`` rounded half up to the fen.

    Raises:
        InvalidRequest: ``amount`` is negative or ``rate`` is not a Decimal in [0, 1].
    """
    _check_rate(rate)
    if amount < 0:
        raise InvalidRequest("amount cannot be negative", code="invalid_amount")
    return min(_round_fen(Decimal(amount) * rate), amount)


def fee_for_bps(amount: int, points: int) -> int:
    """:func:`fee_for` at a rate in basis points, in integers only (half up: ``(2·a·p + 10⁴) // (2·10⁴)``) —
    the same fen for every amount, without a Decimal per call (a year's export computes millions), and the
    form SQL can repeat exactly (reconciliation's matcher does)."""
    if amount < 0 or points < 0:
        raise InvalidRequest("amount and rate cannot be negative", code="invalid_amount")
    return min((2 * amount * points + 10_000) // 20_000, amount)


def refund_fee(*, amount: int, fee: int, refunded_before: int, refund: int) -> int:
    """The part of ``fee`` (charged on a payment of ``amount``) that a refund of ``refund`` returns, given
    ``refunded_before`` fen already refunded. Cumulative proportional rule; see the module docstring.

    Raises:
        InvalidRequest: the refund is not positive or would take the refunds past ``amount``.
    """
    if amount <= 0 or fee < 0 or fee > amount or refunded_before < 0:
        raise InvalidRequest("invalid payment amount or fee", code="invalid_amount")
    if refund <= 0 or refunded_before + refund > amount:
        raise InvalidRequest("refund exceeds what is refundable", code="refund_exceeds_refundable")
    return _returned(fee, refunded_before + refund, amount) - _returned(fee, refunded_before, amount)


def _returned(fee: int, refunded: int, amount: int) -> int:
    return _round_fen(Decimal(fee) * Decimal(refunded) / Decimal(amount))


@dataclass(frozen=True)
class FeeSchedule:
    """The two rates that apply to a payment: what the channel charges and what the platform charges.

    In platform collection the merchant pays ``platform_rate`` (an all-in service fee) and the channel's
    fee is the platform's cost; in independent collection the channel's fee is the merchant's own cost
    (recorded on memo accounts) and ``platform_rate`` is the platform's technology fee.
    """

    channel_rate: Decimal = STANDARD_CHANNEL_RATE
    platform_rate: Decimal = Decimal("0.008")

    def __post_init__(self) -> None:
        _check_rate(self.channel_rate)
        _check_rate(self.platform_rate)

    def channel_fee(self, amount: int) -> int:
        return fee_for(amount, self.channel_rate)

    def platform_fee(self, amount: int) -> int:
        return fee_for(amount, self.platform_rate)
