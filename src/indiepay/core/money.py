"""Money as integer minor units (fen) plus an ISO currency.

Conversions to and from yuan strings use :class:`decimal.Decimal` only; a float never touches money.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, DecimalException, InvalidOperation

from indiepay.core.errors import InvalidRequest

SUPPORTED_CURRENCIES = frozenset({"CNY"})
FEN_PER_YUAN = 100
MAX_AMOUNT_FEN = 10**12
MAX_TOTAL_FEN = 10**15
"""The largest sum a setting may name (a daily cap or limit): far beyond any real day, and exact in every integer
type the databases and JSON clients hold (JavaScript's 2**53 included)."""
"""The most one request may move: ¥10,000,000,000, above what any channel takes in one order (Alipay's
ceiling is ¥100,000,000) and small enough that sums over millions of them stay inside a BIGINT. A larger
number is refused as bad input rather than reaching the database (which would refuse it with a server
error) or a channel."""


def yuan_to_fen(text: str) -> int:
    """Parse a yuan amount such as ``"0.01"`` or ``"-12.50"`` into fen, refusing sub-fen precision.

    Raises:
        InvalidRequest: the text is not a decimal number with at most two decimals.
    """
    try:
        value = Decimal(text.strip())
    except (InvalidOperation, AttributeError) as exc:
        raise InvalidRequest(f"not a yuan amount: {text!r}", code="invalid_amount") from exc
    if not value.is_finite():
        raise InvalidRequest(f"not a yuan amount: {text!r}", code="invalid_amount")
    try:
        fen = value * FEN_PER_YUAN
        whole = fen.to_integral_value()
    except DecimalException as exc:  # "1e999999" overflows the decimal context: no amount is that large
        raise InvalidRequest(f"not a yuan amount: {text!r}", code="invalid_amount") from exc
    if fen != whole:
        raise InvalidRequest(f"amount has more than two decimals: {text!r}", code="invalid_amount")
    return int(fen)


def yuan_to_fen_rounded(text: str) -> int:
    """Parse a yuan amount that may carry more decimals (bill fees have five), rounding half up to fen."""
    value = Decimal(text.strip()) * FEN_PER_YUAN
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fen_to_yuan(fen: int) -> str:
    """Format fen as a yuan string with exactly two decimals (``1`` → ``"0.01"``)."""
    sign = "-" if fen < 0 else ""
    whole, part = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"
