"""Balanced posting plans for each business event, as pure functions (no database).

Every builder returns a :class:`PostingPlan` whose postings are in integer fen, merged per account, sorted
by account code, all in one currency and summing to zero (debit positive, credit negative; see
``accounts.py``). A plan that does not balance is refused with :class:`LedgerUnbalanced`.

Fee model. A payment of ``A`` with channel fee ``C`` and platform fee ``P``:

* platform collection: the channel keeps ``C`` and puts ``A − C`` in the platform's clearing account;
  the merchant is owed ``A − P − C`` (the channel's fee is passed on to the merchant, the platform's
  service fee comes on top); the platform earns ``P``, and its channel-fee expense is matched by the
  same amount recharged to the merchant::

      Dr platform_clearing:<ch>    A − C   Cr merchant_payable:<mch>        A − P − C
      Dr channel_fee_expense:<ch>  C       Cr platform_fee_revenue          P
                                           Cr channel_fee_recharged:<ch>    C

* independent collection: the money and the channel fee are the merchant's (memo accounts); the
  platform's technology fee ``P`` is owed by the merchant to the platform::

      Dr memo_clearing:<mch>:<ch>  A − C   Cr memo_sales:<mch>         A
      Dr memo_channel_fee:<mch>:<ch>  C
      Dr merchant_payable:<mch>    P       Cr platform_fee_revenue     P

A refund mirrors its payment with the fee parts returned (amounts from ``fees.refund_fee``). Settlement
moves what is owed to ``payout_in_transit``; a paid payout takes it out of one or more clearing accounts
(:func:`payout_paid_from`); a failed payout gives it back to ``merchant_payable``. Corrections are either
a manual balanced adjustment (:func:`correction`) or the exact negation of an earlier entry (:func:`reverse`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from indiepay.core.errors import InvalidRequest
from indiepay.ledger import accounts as acc
from indiepay.ledger.accounts import AccountRef

Mode = Literal["platform", "independent"]
EVENT_TYPES = frozenset({"payment_succeeded", "refund_succeeded", "fee", "settlement", "payout_paid",
                         "payout_failed", "profit_share", "share_sent", "share_returned", "correction"})


class LedgerUnbalanced(InvalidRequest):
    """A posting plan whose amounts do not sum to zero, or that mixes currencies (a programming error)."""

    code = "ledger_unbalanced"


@dataclass(frozen=True)
class Posting:
    account: AccountRef
    amount: int  # signed fen: debit positive, credit negative


@dataclass(frozen=True)
class PostingPlan:
    """What an entry will post: balanced postings plus what the entry is about."""

    event_type: str
    postings: tuple[Posting, ...]
    merchant_id: str | None = None
    description: str = ""

    @property
    def currency(self) -> str:
        return self.postings[0].account.currency

    def lines(self) -> list[tuple[str, int]]:
        """``(account code, amount)`` pairs, sorted by code: the canonical content of the plan."""
        return [(p.account.code, p.amount) for p in self.postings]


def plan(event_type: str, lines: Iterable[tuple[AccountRef, int]], *, merchant_id: str | None = None,
         description: str = "") -> PostingPlan:
    """Merge ``lines`` per account, drop zeros, sort by code and check the result balances.

    Raises:
        LedgerUnbalanced: the amounts do not sum to zero, mix currencies, or leave fewer than two postings.
        InvalidRequest: an amount is not an ``int`` or the event type is unknown.
    """
    if event_type not in EVENT_TYPES:
        raise InvalidRequest(f"unknown ledger event type {event_type!r}", code="invalid_event_type")
    merged: dict[str, tuple[AccountRef, int]] = {}
    for account, amount in lines:
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise InvalidRequest(f"ledger amounts are integer fen, got {amount!r}", code="invalid_amount")
        known = merged.get(account.code)
        if known is not None and known[0] != account:
            raise LedgerUnbalanced(f"two different accounts share the code {account.code}")
        merged[account.code] = (account, (known[1] if known else 0) + amount)
    postings = tuple(Posting(account, amount) for _, (account, amount) in sorted(merged.items()) if amount != 0)
    if len({p.account.currency for p in postings}) > 1:
        raise LedgerUnbalanced("an entry must be in a single currency")
    total = sum(p.amount for p in postings)
    if total != 0:
        raise LedgerUnbalanced(f"postings sum to {total} fen, not zero", details={"sum": total})
    if len(postings) < 2:
        raise LedgerUnbalanced("an entry needs at least two non-zero postings")
    return PostingPlan(event_type, postings, merchant_id, description)


def _positive(amount: int, what: str = "amount") -> None:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise InvalidRequest(f"{what} must be a positive number of fen", code="invalid_amount")


def _fees(amount: int, channel_fee: int, platform_fee: int) -> None:
    _positive(amount)
    for value, what in ((channel_fee, "channel fee"), (platform_fee, "platform fee")):
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= amount:
            raise InvalidRequest(f"{what} must be between 0 and the amount", code="invalid_fee")


def payment_succeeded(*, mode: Mode, channel: str, merchant_id: str, amount: int, channel_fee: int,
                      platform_fee: int, currency: str = "CNY", description: str = "") -> PostingPlan:
    """A payment of ``amount`` reached the channel (see the module docstring for the postings)."""
    _fees(amount, channel_fee, platform_fee)
    if mode == "platform":
        lines = [(acc.platform_clearing(channel, currency), amount - channel_fee),
                 (acc.channel_fee_expense(channel, currency), channel_fee),
                 (acc.merchant_payable(merchant_id, currency), -(amount - platform_fee - channel_fee)),
                 (acc.platform_fee_revenue(currency), -platform_fee),
                 (acc.channel_fee_recharged(channel, currency), -channel_fee)]
    elif mode == "independent":
        lines = [(acc.memo_clearing(merchant_id, channel, currency), amount - channel_fee),
                 (acc.memo_channel_fee(merchant_id, channel, currency), channel_fee),
                 (acc.memo_sales(merchant_id, currency), -amount),
                 (acc.merchant_payable(merchant_id, currency), platform_fee),
                 (acc.platform_fee_revenue(currency), -platform_fee)]
    else:
        raise InvalidRequest(f"unknown collection mode {mode!r}", code="invalid_mode")
    return plan("payment_succeeded", lines, merchant_id=merchant_id, description=description)


def refund_succeeded(*, mode: Mode, channel: str, merchant_id: str, amount: int, channel_fee_returned: int,
                     platform_fee_returned: int, currency: str = "CNY", description: str = "") -> PostingPlan:
    """A refund of ``amount`` left the channel; the channel and the platform give back their fee shares."""
    _fees(amount, channel_fee_returned, platform_fee_returned)
    if mode == "platform":
        lines = [(acc.merchant_payable(merchant_id, currency), amount - platform_fee_returned - channel_fee_returned),
                 (acc.platform_fee_revenue(currency), platform_fee_returned),
                 (acc.channel_fee_recharged(channel, currency), channel_fee_returned),
                 (acc.platform_clearing(channel, currency), -(amount - channel_fee_returned)),
                 (acc.channel_fee_expense(channel, currency), -channel_fee_returned)]
    elif mode == "independent":
        lines = [(acc.memo_refunds(merchant_id, currency), amount),
                 (acc.memo_clearing(merchant_id, channel, currency), -(amount - channel_fee_returned)),
                 (acc.memo_channel_fee(merchant_id, channel, currency), -channel_fee_returned),
                 (acc.platform_fee_revenue(currency), platform_fee_returned),
                 (acc.merchant_payable(merchant_id, currency), -platform_fee_returned)]
    else:
        raise InvalidRequest(f"unknown collection mode {mode!r}", code="invalid_mode")
    return plan("refund_succeeded", lines, merchant_id=merchant_id, description=description)


def fee(*, merchant_id: str, amount: int, currency: str = "CNY", description: str = "") -> PostingPlan:
    """A platform service fee charged on its own (monthly fee, fee true-up): the merchant owes it."""
    _positive(amount)
    return plan("fee", [(acc.merchant_payable(merchant_id, currency), amount),
                        (acc.platform_fee_revenue(currency), -amount)],
                merchant_id=merchant_id, description=description)


def settlement(*, merchant_id: str, amount: int, currency: str = "CNY", description: str = "") -> PostingPlan:
    """``amount`` of what the merchant is owed is settled (T+1) and awaits its payout."""
    _positive(amount)
    return plan("settlement", [(acc.merchant_payable(merchant_id, currency), amount),
                               (acc.payout_in_transit(merchant_id, currency), -amount)],
                merchant_id=merchant_id, description=description)


def payout_paid(*, merchant_id: str, amount: int, source_channel: str, currency: str = "CNY",
                description: str = "") -> PostingPlan:
    """The payout of a settlement reached the merchant; the money left the ``source_channel`` clearing."""
    _positive(amount)
    return plan("payout_paid", [(acc.payout_in_transit(merchant_id, currency), amount),
                                (acc.platform_clearing(source_channel, currency), -amount)],
                merchant_id=merchant_id, description=description)


def payout_paid_from(*, merchant_id: str, sources: Iterable[tuple[str, int]], currency: str = "CNY",
                     description: str = "") -> PostingPlan:
    """A payout reached the merchant, funded by one or more clearing accounts: ``sources`` are
    ``(channel, amount)`` pairs (one entry for the whole payout, however many accounts paid for it)."""
    lines: list[tuple[AccountRef, int]] = []
    for channel, amount in sources:
        _positive(amount)
        lines.append((acc.platform_clearing(channel, currency), -amount))
    total = -sum(amount for _, amount in lines)
    _positive(total)
    lines.append((acc.payout_in_transit(merchant_id, currency), total))
    return plan("payout_paid", lines, merchant_id=merchant_id, description=description)


def payout_failed(*, merchant_id: str, amount: int, currency: str = "CNY", source_channel: str | None = None,
                  after_paid: bool = False, description: str = "") -> PostingPlan:
    """A payout failed: the merchant is owed the amount again.

    Before it was confirmed paid the money is still in transit; a payout that bounced *after* being
    posted as paid (``after_paid=True``) brings the money back into the ``source_channel`` clearing.
    """
    _positive(amount)
    if after_paid:
        if source_channel is None:
            raise InvalidRequest("a bounced payout needs its source channel", code="invalid_request")
        back_from = acc.platform_clearing(source_channel, currency)
    else:
        back_from = acc.payout_in_transit(merchant_id, currency)
    return plan("payout_failed", [(back_from, amount), (acc.merchant_payable(merchant_id, currency), -amount)],
                merchant_id=merchant_id, description=description)


def profit_share(*, merchant_id: str, distributor_id: str, amount: int, currency: str = "CNY",
                 description: str = "") -> PostingPlan:
    """Reserve part of the merchant's payable for one of its distributors (profit sharing)."""
    _positive(amount)
    return plan("profit_share", [(acc.merchant_payable(merchant_id, currency), amount),
                                 (acc.distributor_payable(merchant_id, distributor_id, currency), -amount)],
                merchant_id=merchant_id, description=description)


def share_sent(*, merchant_id: str, channel: str, amount: int, currency: str = "CNY",
               description: str = "") -> PostingPlan:
    """Independent collection: the merchant's own channel account sent ``amount`` to one of its receivers
    (profit sharing through the channel, :mod:`indiepay.sharing`). Memo accounts only: the money never
    passes through the platform."""
    _positive(amount)
    return plan("share_sent", [(acc.memo_shared(merchant_id, channel, currency), amount),
                               (acc.memo_clearing(merchant_id, channel, currency), -amount)],
                merchant_id=merchant_id, description=description)


def share_returned(*, merchant_id: str, channel: str, amount: int, currency: str = "CNY",
                   description: str = "") -> PostingPlan:
    """A share taken back from a receiver into the merchant's own channel account (分账回退)."""
    _positive(amount)
    return plan("share_returned", [(acc.memo_clearing(merchant_id, channel, currency), amount),
                                   (acc.memo_shared(merchant_id, channel, currency), -amount)],
                merchant_id=merchant_id, description=description)


def correction(*, lines: Iterable[tuple[AccountRef, int]], merchant_id: str | None = None,
               description: str) -> PostingPlan:
    """A manual, balanced adjusting entry (for an error no earlier entry can simply be reversed for)."""
    if not description.strip():
        raise InvalidRequest("a correction needs a description", code="invalid_request")
    return plan("correction", lines, merchant_id=merchant_id, description=description)


def reverse(original: PostingPlan, *, description: str = "") -> PostingPlan:
    """The correction that exactly cancels ``original``: every posting negated."""
    return plan("correction", [(p.account, -p.amount) for p in original.postings],
                merchant_id=original.merchant_id, description=description or f"reversal: {original.description}")
