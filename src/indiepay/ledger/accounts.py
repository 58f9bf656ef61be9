"""Ledger accounts and their codes, as pure data.

An account is identified by a readable, stable code made of its kind and the parts that scope it, joined
with ``:`` — ``merchant_payable:mch_x:CNY``, ``platform_clearing:wechatpay:CNY``. The service creates the
account row the first time a posting names it, so the chart of accounts needs no seeding.

Sign convention (the whole ledger): a posting's ``amount`` is signed integer fen, **debit positive and
credit negative**. Every entry sums to zero. A balance is the plain sum of an account's postings, so
asset and expense accounts (clearing, channel fee expense, memo clearing) are normally positive, and
liability and revenue accounts (merchant payable, fee revenue, memo sales) are normally negative;
:func:`natural_balance` flips the latter so that "we owe the merchant 100 fen" reads as ``+100``.

Platform collection (平台统一收款) uses the platform's own accounts. Independent collection (独立收款)
money never touches the platform, so it is recorded on per-merchant *memo* accounts (``memo_*``) that
mirror the merchant's own channel account; only the platform's service fee, which the merchant owes
the platform, crosses into the platform's books (as a debit to ``merchant_payable``).
"""

from __future__ import annotations

from dataclasses import dataclass

# kind -> True when the account is credit-normal (liability, revenue, memo sales)
KINDS: dict[str, bool] = {
    "platform_clearing": False,  # asset: money held in the platform's channel account, per channel
    "channel_fee_expense": False,  # expense: fees the channel charges the platform, per channel
    "platform_fee_revenue": True,  # revenue: the platform's service fee
    "channel_fee_recharged": True,  # revenue: channel fees passed on to platform-collection merchants, per channel
    "merchant_payable": True,  # liability: what the platform owes the merchant (negative: merchant owes)
    "payout_in_transit": True,  # liability: settled to the merchant, payout not yet confirmed
    "distributor_payable": True,  # liability: reserved for profit sharing to a merchant's distributors
    "memo_clearing": False,  # memo asset: the merchant's own channel account (independent mode)
    "memo_channel_fee": False,  # memo expense: fees the merchant's own channel account charged
    "memo_sales": True,  # memo revenue: the merchant's gross independent volume
    "memo_refunds": False,  # memo contra-revenue: refunds of independent volume
    "memo_shared": False,  # memo expense: what the merchant's own channel account shared to its receivers
}
MEMO_KINDS = frozenset(kind for kind in KINDS if kind.startswith("memo_"))


@dataclass(frozen=True, order=True)
class AccountRef:
    """An account as named by a posting; ``code`` is unique and the rest is derived from it."""

    code: str
    kind: str
    currency: str
    merchant_id: str | None = None
    channel: str | None = None

    @property
    def memo(self) -> bool:
        return self.kind in MEMO_KINDS


def _part(value: str, what: str) -> str:
    if not value or ":" in value or len(value) > 64:
        raise ValueError(f"invalid {what} for an account code: {value!r}")
    return value


def _ref(kind: str, currency: str, *, merchant_id: str | None = None, channel: str | None = None,
         extra: str | None = None) -> AccountRef:
    parts = [kind]
    if merchant_id is not None:
        parts.append(_part(merchant_id, "merchant id"))
    if channel is not None:
        parts.append(_part(channel, "channel"))
    if extra is not None:
        parts.append(_part(extra, "account qualifier"))
    parts.append(_part(currency, "currency"))
    return AccountRef(code=":".join(parts), kind=kind, currency=currency, merchant_id=merchant_id, channel=channel)


def platform_clearing(channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("platform_clearing", currency, channel=channel)


def channel_fee_expense(channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("channel_fee_expense", currency, channel=channel)


def channel_fee_recharged(channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("channel_fee_recharged", currency, channel=channel)


def platform_fee_revenue(currency: str = "CNY") -> AccountRef:
    return _ref("platform_fee_revenue", currency)


def merchant_payable(merchant_id: str, currency: str = "CNY") -> AccountRef:
    return _ref("merchant_payable", currency, merchant_id=merchant_id)


def payout_in_transit(merchant_id: str, currency: str = "CNY") -> AccountRef:
    return _ref("payout_in_transit", currency, merchant_id=merchant_id)


def distributor_payable(merchant_id: str, distributor_id: str, currency: str = "CNY") -> AccountRef:
    return _ref("distributor_payable", currency, merchant_id=merchant_id, extra=distributor_id)


def memo_clearing(merchant_id: str, channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("memo_clearing", currency, merchant_id=merchant_id, channel=channel)


def memo_channel_fee(merchant_id: str, channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("memo_channel_fee", currency, merchant_id=merchant_id, channel=channel)


def memo_shared(merchant_id: str, channel: str, currency: str = "CNY") -> AccountRef:
    return _ref("memo_shared", currency, merchant_id=merchant_id, channel=channel)


def memo_sales(merchant_id: str, currency: str = "CNY") -> AccountRef:
    return _ref("memo_sales", currency, merchant_id=merchant_id)


def memo_refunds(merchant_id: str, currency: str = "CNY") -> AccountRef:
    return _ref("memo_refunds", currency, merchant_id=merchant_id)


def natural_balance(kind: str, balance: int) -> int:
    """The balance as a person reads it: positive for a credit-normal account in credit."""
    return -balance if KINDS.get(kind, False) else balance
