"""Reconciliation rules as versioned data, plus the pure arithmetic the matcher and the service share.

A run records the :attr:`RuleSet.version` it was classified with, so a difference found last month can be
explained by the rules of last month even after the rules change: a new rule set gets a new version
string and the old one stays here. The matcher (:mod:`.matcher`) turns the numbers of a rule set into SQL
parameters; nothing in a rule set is code.

Classes of difference, per channel account and Asia/Shanghai business day ``[00:00, 24:00)``:

* ``missing_in_channel`` — we recorded money (a succeeded payment or refund) that no bill shows;
* ``missing_locally`` — the bill shows money for an order or refund number we do not know;
* ``amount_mismatch`` — both sides know it, the amounts differ;
* ``status_mismatch`` — the bill says the money moved and we do not (a late payment: pending or closed
  here), or the other way round;
* ``fee_mismatch`` — the bill's fee differs from the fee booked at the payment's ``channel_fee_bps`` by
  more than rounding (:attr:`RuleSet.fee_tolerance_fen`);
* ``duplicate_in_bill`` — the same order or refund number twice in one bill;
* ``cross_day`` — a local payment near midnight missing from its day's bill while the neighbouring day's
  bill has not arrived yet: *held* for :attr:`RuleSet.grace_days` days and matched against that bill
  when it comes, then resolved silently or turned into ``missing_in_channel``.

For one order only the most important class is reported (:attr:`RuleSet.precedence`), so one corruption
of a bill yields exactly one difference.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from indiepay.core.clock import BUSINESS_TZ, EARLIEST_STORABLE, LATEST_STORABLE
from indiepay.core.errors import InvalidRequest
from indiepay.ledger import accounts as acc
from indiepay.ledger.accounts import AccountRef
from indiepay.ledger.fees import fee_for_bps

MISSING_IN_CHANNEL = "missing_in_channel"
MISSING_LOCALLY = "missing_locally"
AMOUNT_MISMATCH = "amount_mismatch"
STATUS_MISMATCH = "status_mismatch"
FEE_MISMATCH = "fee_mismatch"
DUPLICATE_IN_BILL = "duplicate_in_bill"
CROSS_DAY = "cross_day"
CLASSES = (MISSING_IN_CHANNEL, MISSING_LOCALLY, AMOUNT_MISMATCH, STATUS_MISMATCH, FEE_MISMATCH, DUPLICATE_IN_BILL,
           CROSS_DAY)

OPEN, RESOLVED, IGNORED = "open", "resolved", "ignored"
SYSTEM_ACTOR = "system:reconciliation"  # who resolves a difference a later run no longer finds


@dataclass(frozen=True)
class RuleSet:
    """The parameters of one version of the matching rules.

    Attributes:
        version: recorded on every run; change it whenever any other field changes.
        grace_days: how long a ``cross_day`` difference waits for the neighbouring day's bill.
        boundary_seconds: how close to midnight a local payment must be to be held as ``cross_day``
            rather than reported as ``missing_in_channel`` at once (clocks of two systems disagree by
            seconds, not hours).
        fee_tolerance_fen: fee differences up to this are rounding (the bill prints five decimals and
            rounds per order; we round per order too, possibly the other way).
        channel_done_states: bill row states meaning the money moved.
        local_done_status: the local status meaning the same.
        precedence: when one order differs in several ways, the first class listed is reported.
    """

    version: str
    grace_days: int
    boundary_seconds: int
    fee_tolerance_fen: int
    channel_done_states: tuple[str, ...]
    local_done_status: str
    precedence: tuple[str, ...]


RULES_V1 = RuleSet(
    version="recon-2026.11-v1",
    grace_days=3,
    boundary_seconds=900,
    fee_tolerance_fen=1,
    channel_done_states=("SUCCESS",),
    local_done_status="succeeded",
    precedence=(DUPLICATE_IN_BILL, STATUS_MISMATCH, AMOUNT_MISMATCH, FEE_MISMATCH),
)
CURRENT = RULES_V1
RULE_SETS = {RULES_V1.version: RULES_V1}


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The business day as aware UTC instants ``[start, end)`` (Asia/Shanghai, whatever ``TZ`` says)."""
    start = datetime.combine(day, time(), BUSINESS_TZ)
    end = datetime.combine(day + timedelta(days=1), time(), BUSINESS_TZ)
    return start.astimezone(UTC), end.astimezone(UTC)


def check_day(day: date | None) -> date | None:
    """A business day a bill is said to cover (None: not said), if its window — the day, its neighbours, the
    grace period — lies in the storable range: the days around year 1 or 9999 overflow ``datetime``.

    Raises:
        InvalidRequest (``invalid_date``): a day before ``EARLIEST_STORABLE`` or from ``LATEST_STORABLE`` on.
    """
    if day is not None and not EARLIEST_STORABLE.date() <= day < LATEST_STORABLE.date():
        raise InvalidRequest(f"the business day must lie between {EARLIEST_STORABLE:%Y-%m-%d} and "
                             f"{LATEST_STORABLE:%Y-%m-%d}, not {day}", code="invalid_date",
                             details={"date": day.isoformat()})
    return day


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:24]


def run_id(account_id: str, day: date) -> str:
    """One run row per account and day: re-running the day updates it in place."""
    return f"recrun_{_digest(account_id, day.isoformat())}"


def difference_id(account_id: str, day: date, klass: str, out_trade_no: str, out_refund_no: str | None) -> str:
    """Deterministic, so re-running a day finds the differences it found before (and their resolution)."""
    return f"recdiff_{_digest(account_id, day.isoformat(), klass, out_trade_no, out_refund_no or '')}"


def booked_fee(amount: int, channel_fee_bps: int) -> int:
    """The channel fee the ledger booked for a payment (:func:`indiepay.ledger.fees.fee_for_bps`, whose
    integer form the matcher's SQL repeats)."""
    return fee_for_bps(amount, channel_fee_bps)


def fee_correction_lines(*, mode: str, channel: str, merchant_id: str, currency: str,
                         delta: int) -> list[tuple[AccountRef, int]]:
    """Postings moving a payment's channel fee from what was booked to what the bill says (``delta`` =
    actual − booked): exactly the difference between the two ``payment_succeeded`` plans.

    Platform collection: the platform's fee expense and the recharge to the merchant both grow, the clearing
    account holds less. Independent collection: the merchant's memo fee grows, its memo clearing shrinks.
    """
    if mode == "platform":
        return [(acc.channel_fee_expense(channel, currency), delta), (acc.platform_clearing(channel, currency), -delta),
                (acc.merchant_payable(merchant_id, currency), delta),
                (acc.channel_fee_recharged(channel, currency), -delta)]
    return [(acc.memo_channel_fee(merchant_id, channel, currency), delta),
            (acc.memo_clearing(merchant_id, channel, currency), -delta)]


def refund_fee_correction_lines(*, mode: str, channel: str, merchant_id: str, currency: str,
                                delta: int) -> list[tuple[AccountRef, int]]:
    """Postings moving a refund's returned channel fee from what was booked to what the bill says (``delta``
    = actual − booked returned fee): exactly the difference between the two ``refund_succeeded`` plans, i.e.
    a payment fee correction of ``−delta`` (a fee returned is a fee no longer charged)."""
    return fee_correction_lines(mode=mode, channel=channel, merchant_id=merchant_id, currency=currency, delta=-delta)


def amount_correction_lines(*, kind: str, mode: str, channel: str, merchant_id: str, currency: str,
                            delta: int) -> list[tuple[AccountRef, int]]:
    """Postings bringing a booked payment or refund to the amount the bill shows (``delta`` = channel −
    local). Fees are left to the fee correction; only the money and who it belongs to move."""
    if kind == "refund":
        if mode == "platform":
            return [(acc.merchant_payable(merchant_id, currency), delta),
                    (acc.platform_clearing(channel, currency), -delta)]
        return [(acc.memo_refunds(merchant_id, currency), delta),
                (acc.memo_clearing(merchant_id, channel, currency), -delta)]
    if mode == "platform":
        return [(acc.platform_clearing(channel, currency), delta),
                (acc.merchant_payable(merchant_id, currency), -delta)]
    return [(acc.memo_clearing(merchant_id, channel, currency), delta), (acc.memo_sales(merchant_id, currency), -delta)]


QUERY = "query"  # ask the channel again (enqueue payment.query); the normal payment event posts the money
APPLY_LATE_PAYMENT = "apply_late_payment"  # a closed/failed payment the bill shows paid: the state machine
CORRECT_AMOUNT = "correct_amount"  # a booked amount differs from the bill: one correction keyed by the difference


def resolution_effects(klass: str, *, kind: str, local_status: str | None, livemode: bool,
                       rules: RuleSet = CURRENT) -> tuple[str, ...]:
    """What resolving (not ignoring) a difference does beyond recording who, when and why.

    * ``status_mismatch`` of a *pending* payment: the channel is queried; its answer posts the payment
      through the normal event (``payment_succeeded:<id>``), so no correction is needed.
    * ``status_mismatch`` of a *closed or failed* payment: the query job ignores non-pending payments, so
      the bill's evidence is applied through the payment state machine as a late payment (the same
      transition a late callback makes: one ``payment_succeeded`` entry, a webhook and an alert).
    * ``amount_mismatch`` of a booked (live, succeeded) payment or refund: one correction keyed by the
      difference id, posted once however often the difference is resolved.
    * Everything else changes nothing but the difference's status: reversing a booked payment the channel
      never saw, or refunding money nobody ordered, is a decision for a person, not a side effect.
    """
    if klass == STATUS_MISMATCH and kind == "payment":
        if local_status == "pending":
            return (QUERY,)
        if local_status in ("closed", "failed"):
            return (APPLY_LATE_PAYMENT,)
    if klass == AMOUNT_MISMATCH and livemode and local_status == rules.local_done_status:
        return (CORRECT_AMOUNT,)
    return ()


# -- a closed difference whose amounts a later bill changes ---------------------------------------------------
# A person resolved (and perhaps corrected) or ignored a difference for the amounts the bill said then. If the
# channel republishes the day with other amounts, that decision was about figures that no longer hold: the
# difference opens again (its history kept), and resolving it again corrects only what the earlier
# corrections did not — each correction its own entry, never an edit.

CORRECTED = "corrected_fen"  # details: what the corrections of this difference have posted so far (fen)
CORRECTIONS = "corrections"  # details: how many there were
REOPENED = "reopened"  # details: the closings that a changed bill undid, oldest first


def reopened_details(details: dict[str, Any], *, status: str, resolved_by: str | None, resolved_at: str | None,
                     note: str | None, local_amount: int | None, channel_amount: int | None) -> dict[str, Any]:
    """The details a difference carries when a changed bill opens it again: the closing it had (with its
    resolution) appended to its history, and what its corrections posted so far. A difference corrected
    before this bookkeeping existed has a ledger entry in its resolution and no count: its correction was
    the difference of the amounts it was resolved for."""
    resolution = details.get("resolution") or {}
    corrected = details.get(CORRECTED)
    count = details.get(CORRECTIONS)
    if corrected is None:
        posted = bool(resolution.get("ledger_entry_id")) and channel_amount is not None and local_amount is not None
        corrected = (channel_amount or 0) - (local_amount or 0) if posted else 0
        count = 1 if posted else 0
    closing = {"status": status, "resolved_by": resolved_by, "resolved_at": resolved_at, "note": note,
               "local_amount": local_amount, "channel_amount": channel_amount, "resolution": resolution or None}
    return {REOPENED: [*details.get(REOPENED, []), closing], CORRECTED: corrected, CORRECTIONS: count}


def correction_due(diff_id: str, *, local_amount: int, channel_amount: int,
                   details: dict[str, Any]) -> tuple[int, str]:
    """What a resolution of a money difference posts: the part of (bill − ours) no earlier correction of it
    posted, and the event key of that correction (``reconciliation:<id>`` for the first, then ``…:2``, …)."""
    count = int(details.get(CORRECTIONS, 0))
    delta = channel_amount - local_amount - int(details.get(CORRECTED, 0))
    return delta, f"reconciliation:{diff_id}" if count == 0 else f"reconciliation:{diff_id}:{count + 1}"
