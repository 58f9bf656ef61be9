"""A month of one merchant's ledger entries, turned into statement figures (pure; no database).

Every figure is read from the postings, never from the payments tables, so a statement says exactly what
the books say. An entry counts under its business event only when its postings are **exactly** what
:mod:`indiepay.ledger.postings` builds for that event from the figures read back out of it (the plan is
rebuilt and compared line by line). Anything else — a manual correction, an entry of an unexpected
shape — is an *adjustment*: its effect on the merchant's own accounts is carried as such, so that the
month still reconciles and nothing is silently misfiled as volume or fees.

Collection mode and channel come from the accounts an entry touches: platform collection books
``platform_clearing`` / ``channel_fee_*`` accounts, independent collection the merchant's ``memo_*``
accounts (see :mod:`indiepay.ledger.accounts`).

A reversal (a correction that negates an earlier entry, see :func:`indiepay.ledger.service.reverse`)
counts as the event it reverses with sign −1: reversing a payment takes its volume, fees and one payment
off the month the reversal falls in. Every figure is a plain sum of posting amounts, so figures, counts
and the reconciliation stay linear and add up whatever the mix of entries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from indiepay.core.errors import InvalidRequest
from indiepay.ledger import accounts as acc
from indiepay.ledger import postings
from indiepay.ledger.accounts import MEMO_KINDS
from indiepay.ledger.postings import Mode, PostingPlan

PLATFORM_KINDS = frozenset({"platform_clearing", "channel_fee_expense", "channel_fee_recharged"})
CHANNEL_KINDS = PLATFORM_KINDS | {"memo_clearing", "memo_channel_fee"}
# the merchant's own accounts whose change over the month the statement must explain
RECONCILED_KINDS = ("merchant_payable", "memo_clearing", "memo_channel_fee", "memo_sales", "memo_refunds",
                    "memo_shared")
MODES: tuple[Mode, ...] = ("platform", "independent")


@dataclass(frozen=True)
class PostingRow:
    code: str
    kind: str
    merchant_id: str | None  # the account's merchant (None: a platform account)
    channel: str | None
    amount: int  # signed fen, debit positive


@dataclass(frozen=True)
class EntryRow:
    """One ledger entry of the month with its postings.

    ``counts_as`` is the event type the entry is counted under: its own, or for a reversal the type of the
    entry it (ultimately) reverses, with ``sign`` −1 per reversal in the chain; None for a manual correction.
    """

    id: str
    sequence: int
    merchant_id: str | None
    counts_as: str | None
    sign: int
    postings: tuple[PostingRow, ...]


@dataclass
class LineTotals:
    """Volume and fees of one channel in one collection mode (or any sum of such lines)."""

    payment_count: int = 0
    refund_count: int = 0
    gross: int = 0
    refunds: int = 0
    channel_fee_charged: int = 0
    channel_fee_returned: int = 0
    platform_fee_charged: int = 0  # platform service fee (platform mode) / technology fee (independent)
    platform_fee_returned: int = 0
    shared: int = 0  # independent mode: sent from the merchant's own channel account to its receivers
    shares_returned: int = 0  # … and taken back from them

    @property
    def channel_fee(self) -> int:
        return self.channel_fee_charged - self.channel_fee_returned

    @property
    def platform_fee(self) -> int:
        return self.platform_fee_charged - self.platform_fee_returned

    @property
    def net_shared(self) -> int:
        return self.shared - self.shares_returned

    @property
    def net(self) -> int:
        """What the merchant keeps: volume less refunds, both fees and (independent mode) what its channel
        account shared to its receivers."""
        return self.gross - self.refunds - self.channel_fee - self.platform_fee - self.net_shared

    def add(self, other: LineTotals) -> None:
        for name in ("payment_count", "refund_count", "gross", "refunds", "channel_fee_charged",
                     "channel_fee_returned", "platform_fee_charged", "platform_fee_returned", "shared",
                     "shares_returned"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class MonthFigures:
    """Everything a statement states about one merchant, month and currency."""

    lines: dict[tuple[Mode, str], LineTotals] = field(default_factory=dict)  # (mode, channel)
    settled: int = 0  # moved from merchant_payable to payout_in_transit (settlement entries)
    paid_out: int = 0  # payouts confirmed paid
    payouts_returned: int = 0  # failed payouts credited back to merchant_payable
    other_fees: int = 0  # platform fees charged on their own (``fee`` entries)
    profit_shared: int = 0  # reserved for the merchant's distributors
    adjustments: Counter[str] = field(default_factory=Counter)  # kind -> signed change on own accounts
    entry_count: int = 0
    adjustment_count: int = 0
    last_sequence: int | None = None

    def line(self, mode: Mode, channel: str) -> LineTotals:
        return self.lines.setdefault((mode, channel), LineTotals())

    def mode_totals(self, mode: Mode) -> LineTotals:
        total = LineTotals()
        for (line_mode, _), line in self.lines.items():
            if line_mode == mode:
                total.add(line)
        return total

    def totals(self) -> LineTotals:
        total = LineTotals()
        for line in self.lines.values():
            total.add(line)
        return total

    def explained_change(self, kind: str) -> int:
        """The signed (debit-positive) change of the merchant's ``kind`` accounts that the figures account
        for, excluding adjustments (see the posting shapes in :mod:`indiepay.ledger.postings`)."""
        platform, independent = self.mode_totals("platform"), self.mode_totals("independent")
        if kind == "merchant_payable":
            owed = (platform.net - independent.platform_fee - self.other_fees - self.settled
                    + self.payouts_returned - self.profit_shared)
            return -owed
        if kind == "memo_sales":
            return -independent.gross
        if kind == "memo_refunds":
            return independent.refunds
        if kind == "memo_channel_fee":
            return independent.channel_fee
        if kind == "memo_clearing":
            return independent.gross - independent.refunds - independent.channel_fee - independent.net_shared
        if kind == "memo_shared":
            return independent.net_shared
        raise ValueError(f"{kind} is not reconciled by a statement")


def classify(entries: Iterable[EntryRow], *, merchant_id: str, currency: str) -> MonthFigures:
    """Sum a month of entries (in one currency) into the statement figures of ``merchant_id``."""
    figures = MonthFigures()
    for entry in entries:
        figures.entry_count += 1
        figures.last_sequence = max(figures.last_sequence or 0, entry.sequence)
        handler = _HANDLERS.get(entry.counts_as or "")
        if entry.merchant_id == merchant_id and handler is not None and handler(figures, entry, currency):
            continue
        figures.adjustment_count += 1
        for posting in entry.postings:
            if posting.merchant_id == merchant_id and posting.kind in RECONCILED_KINDS:
                figures.adjustments[posting.kind] += posting.amount
    return figures


def _sums(entry: EntryRow) -> Counter[str]:
    sums: Counter[str] = Counter()
    for posting in entry.postings:
        sums[posting.kind] += posting.amount
    return sums


def _same(entry: EntryRow, plan: PostingPlan) -> bool:
    """True when the entry's postings are exactly ``plan``'s (negated for a reversal)."""
    expected = sorted((code, entry.sign * amount) for code, amount in plan.lines())
    return expected == sorted((p.code, p.amount) for p in entry.postings)


def _mode_and_channel(entry: EntryRow) -> tuple[Mode, str] | None:
    kinds = {p.kind for p in entry.postings}
    platform, memo = bool(kinds & PLATFORM_KINDS), bool(kinds & MEMO_KINDS)
    channels = {p.channel for p in entry.postings if p.kind in CHANNEL_KINDS}
    if platform == memo or len(channels) != 1:
        return None
    channel = channels.pop()
    if channel is None:
        return None
    return ("platform" if platform else "independent"), channel


def _payment(figures: MonthFigures, entry: EntryRow, currency: str) -> bool:
    found = _mode_and_channel(entry)
    if found is None or entry.merchant_id is None:
        return False
    mode, channel = found
    sums, sign = _sums(entry), entry.sign
    if mode == "platform":
        gross, channel_fee = sums["platform_clearing"] + sums["channel_fee_expense"], sums["channel_fee_expense"]
    else:
        gross, channel_fee = -sums["memo_sales"], sums["memo_channel_fee"]
    platform_fee = -sums["platform_fee_revenue"]
    try:
        plan = postings.payment_succeeded(mode=mode, channel=channel, merchant_id=entry.merchant_id,
                                          amount=sign * gross, channel_fee=sign * channel_fee,
                                          platform_fee=sign * platform_fee, currency=currency)
    except (InvalidRequest, ValueError):
        return False
    if not _same(entry, plan):
        return False
    line = figures.line(mode, channel)
    line.payment_count += sign
    line.gross += gross
    line.channel_fee_charged += channel_fee
    line.platform_fee_charged += platform_fee
    return True


def _refund(figures: MonthFigures, entry: EntryRow, currency: str) -> bool:
    found = _mode_and_channel(entry)
    if found is None or entry.merchant_id is None:
        return False
    mode, channel = found
    sums, sign = _sums(entry), entry.sign
    if mode == "platform":
        amount, channel_fee = -(sums["platform_clearing"] + sums["channel_fee_expense"]), -sums["channel_fee_expense"]
    else:
        amount, channel_fee = sums["memo_refunds"], -sums["memo_channel_fee"]
    platform_fee = sums["platform_fee_revenue"]
    try:
        plan = postings.refund_succeeded(mode=mode, channel=channel, merchant_id=entry.merchant_id,
                                         amount=sign * amount, channel_fee_returned=sign * channel_fee,
                                         platform_fee_returned=sign * platform_fee, currency=currency)
    except (InvalidRequest, ValueError):
        return False
    if not _same(entry, plan):
        return False
    line = figures.line(mode, channel)
    line.refund_count += sign
    line.refunds += amount
    line.channel_fee_returned += channel_fee
    line.platform_fee_returned += platform_fee
    return True


def _single_channel(entry: EntryRow, kind: str) -> str | None:
    channels = {p.channel for p in entry.postings if p.kind == kind}
    return channels.pop() if len(channels) == 1 else None


def _payout_paid(entry: EntryRow, merchant_id: str, currency: str) -> bool:
    """A paid payout: ``payout_in_transit`` debited, funded by one or more ``platform_clearing`` accounts
    (checked by shape, since a payout may draw on several clearing accounts at once)."""
    in_transit = acc.payout_in_transit(merchant_id, currency).code
    legs = {p.code: entry.sign * p.amount for p in entry.postings}
    sources = [p for p in entry.postings if p.code != in_transit]
    return (legs.get(in_transit, 0) > 0 and bool(sources) and len(legs) == len(entry.postings)
            and all(p.kind == "platform_clearing" and p.channel and entry.sign * p.amount < 0 for p in sources)
            and sum(legs.values()) == 0)


def _two_legged(figures: MonthFigures, entry: EntryRow, currency: str) -> bool:
    """Settlement, payouts, stand-alone fees and profit shares: one figure each, read off one account, the
    entry rebuilt with the same builder and compared (paid payouts are checked by shape, see above)."""
    merchant_id, sums, sign = entry.merchant_id, _sums(entry), entry.sign
    if merchant_id is None:
        return False
    kind = entry.counts_as
    try:
        if kind == "settlement":
            amount = sums["merchant_payable"]
            plan = postings.settlement(merchant_id=merchant_id, amount=sign * amount, currency=currency)
        elif kind == "fee":
            amount = sums["merchant_payable"]
            plan = postings.fee(merchant_id=merchant_id, amount=sign * amount, currency=currency)
        elif kind == "payout_paid":
            if not _payout_paid(entry, merchant_id, currency):
                return False
            figures.paid_out += sums["payout_in_transit"]
            return True
        elif kind == "payout_failed":
            amount, source = -sums["merchant_payable"], _single_channel(entry, "platform_clearing")
            plan = postings.payout_failed(merchant_id=merchant_id, amount=sign * amount, currency=currency,
                                          source_channel=source, after_paid=source is not None)
        elif kind == "profit_share":
            amount = sums["merchant_payable"]
            codes = [p.code for p in entry.postings if p.kind == "distributor_payable"]
            parts = codes[0].split(":") if len(codes) == 1 else []
            if len(parts) != 4:
                return False
            plan = postings.profit_share(merchant_id=merchant_id, distributor_id=parts[2], amount=sign * amount,
                                         currency=currency)
        else:
            return False
    except (InvalidRequest, ValueError):
        return False
    if not _same(entry, plan):
        return False
    attribute = {"settlement": "settled", "fee": "other_fees", "payout_paid": "paid_out",
                 "payout_failed": "payouts_returned", "profit_share": "profit_shared"}[kind]
    setattr(figures, attribute, getattr(figures, attribute) + amount)
    return True


def _share(figures: MonthFigures, entry: EntryRow, currency: str) -> bool:
    """A share sent from (or returned to) an independent merchant's own channel account: memo accounts of one
    channel, rebuilt with the same builder and compared."""
    found = _mode_and_channel(entry)
    if found is None or found[0] != "independent" or entry.merchant_id is None:
        return False
    channel, sums, sign = found[1], _sums(entry), entry.sign
    sent = entry.counts_as == "share_sent"
    amount = sums["memo_shared"] if sent else -sums["memo_shared"]
    builder = postings.share_sent if sent else postings.share_returned
    try:
        plan = builder(merchant_id=entry.merchant_id, channel=channel, amount=sign * amount, currency=currency)
    except (InvalidRequest, ValueError):
        return False
    if not _same(entry, plan):
        return False
    line = figures.line("independent", channel)
    if sent:
        line.shared += amount
    else:
        line.shares_returned += amount
    return True


_HANDLERS = {"payment_succeeded": _payment, "refund_succeeded": _refund, "settlement": _two_legged,
             "fee": _two_legged, "payout_paid": _two_legged, "payout_failed": _two_legged,
             "profit_share": _two_legged, "share_sent": _share, "share_returned": _share}
