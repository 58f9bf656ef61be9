"""Measuring a payment or refund for the risk rules, with few indexed aggregate queries (test and live data
kept apart by ``livemode``).

On every payment, one statement: today's counted volume per channel account from ``payment_day_usage``
(running sums the payments' triggers keep, migration 0019; as a JSON scalar subquery) — the daily limit and
the daily-cap rule read the total, routing reads each of the merchant's own accounts' share against its cap
— and a scan of the merchant's payments within the widest window a rule reads, on
``ix_payments_merchant_created`` (which on SQLite carries every column the statement reads: no table row
is looked up, migration 0017), counting the payer's payments and failures and the merchant's payments for
every window at once, with conditional sums. Neither grows with the merchant's day (the sum of today's
payments did: 44 ms a payment at the 20,000th). Admission has routing's account list ride in the same
statement (:class:`Carried`).
The trailing 30-day history (for "far above normal") does not change during a business day, so it is
read once per merchant, mode and day — from the days' roll-ups (:mod:`.history`) — and kept in a small
per-database cache. On a refund: one statement with three scalar subqueries over the trailing 7 days.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from indiepay.core.clock import as_utc, business_day
from indiepay.db.base import UTCDateTime
from indiepay.db.jsonrows import json_rows, rows_of
from indiepay.db.prepared import Prepared
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.risk import history, rules
from indiepay.risk.models import PaymentDayUsage

FAILED = ("failed", "closed")
CACHE_LIMIT = 10_000
PAYMENT = Payment.__table__.c


@dataclass(frozen=True)
class History:
    days: int
    volume: int
    count: int


# per database engine: (merchant, livemode, business day) -> the merchant's history before that day
_histories: weakref.WeakKeyDictionary[object, dict[tuple[str, bool, date], History]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Recent:
    """What was measured of the merchant's recent payments: its counted volume today (the daily
    limit and the daily-cap rule read it) and the velocity counts the rules need."""

    used_today: int
    payer_payments: Mapping[tuple[str, int], int]
    payer_failures: Mapping[tuple[str, int], int]
    merchant_payments: Mapping[int, int]
    used_today_by_account: Mapping[str, int]  # the merchant's counted volume today on each account it used
    carried: Any = None  # the value of the ``carry`` column, as the driver returned it


@dataclass(frozen=True)
class Carried:
    """A scalar subquery that rides along with the measure: one statement on every payment instead of two
    (a statement's round trip through the session and driver costs more than these small reads). ``name``
    identifies the column for the compiled-statement cache; ``params`` binds its own parameters."""

    name: str
    column: ColumnElement[Any]
    params: Mapping[str, Any]


def measure_recent(session: Session, ruleset: rules.RuleSet, *, merchant_id: str, livemode: bool,
                   payer: Mapping[str, Any], now: datetime, carry: Carried | None = None) -> Recent:
    """Today's counted volume and the rules' recent counts for a payment about to be created, in one
    statement (today's running sums as a scalar subquery of the rule windows' scan). ``carry``: a scalar
    column another step of admission needs read in the same transaction (see :class:`Carried`); its raw
    value comes back as ``Recent.carried``."""
    need = ruleset.needs("payment")
    ids = {by: str(payer[by]) for by in rules.PAYER_IDS if payer.get(by)}
    return _recent(session, need, merchant_id, livemode, ids, now, carry)


def for_payment(session: Session, ruleset: rules.RuleSet, *, merchant: Merchant, livemode: bool, amount: int,
                recent: Recent, daily_limit: int, now: datetime) -> rules.Features:
    """The features of a payment about to be created (not yet written), from ``recent`` and the history."""
    need = ruleset.needs("payment")
    past = _history(session, merchant, livemode, business_day(now)) if need.history else History(0, 0, 0)
    return rules.Features(
        object_type="payment", amount=amount, subject_type=merchant.subject_type,
        account_age_days=_age_days(merchant, now), used_today=recent.used_today, daily_limit=daily_limit,
        payer_payments=recent.payer_payments, payer_failures=recent.payer_failures,
        merchant_payments=recent.merchant_payments, history_days=past.days, history_volume=past.volume,
        history_count=past.count)


def for_refund(session: Session, ruleset: rules.RuleSet, *, merchant: Merchant, livemode: bool, amount: int,
               now: datetime) -> rules.Features:
    """The features of a refund about to be created (its amount already reserved, the row not written)."""
    need = ruleset.needs("refund")
    refunds = refunded = paid = 0
    if need.refund_window:
        since = now - timedelta(days=rules.REFUND_WINDOW_DAYS)
        mine = and_(Refund.merchant_id == merchant.id, Refund.livemode == livemode, Refund.created_at >= since,
                    Refund.status != "failed")
        row = session.execute(select(
            select(func.count()).select_from(Refund).where(mine).scalar_subquery(),
            select(func.coalesce(func.sum(Refund.amount), 0)).where(mine).scalar_subquery(),
            select(func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.merchant_id == merchant.id, Payment.livemode == livemode, Payment.created_at >= since,
                   Payment.status == "succeeded").scalar_subquery())).one()
        refunds, refunded, paid = (int(v or 0) for v in row)
    return rules.Features(object_type="refund", amount=amount, subject_type=merchant.subject_type,
                          account_age_days=_age_days(merchant, now), window_refunds=refunds,
                          window_refunded=refunded, window_paid=paid)


def _age_days(merchant: Merchant, now: datetime) -> int:
    return max((now - as_utc(merchant.created_at)) // timedelta(days=1), 0)


def _count(condition: ColumnElement[bool]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _recent(session: Session, need: rules.Needs, merchant_id: str, livemode: bool, ids: Mapping[str, str],
            now: datetime, carry: Carried | None) -> Recent:
    """One statement: today's counted volume per account, from the running sums the payments' triggers keep
    (a few rows, however busy the merchant's day, as a JSON scalar subquery), and one scan of the merchant's
    payments within the widest rule window: counts per (payer id, minutes), failures likewise, and per
    minutes (and the ``carry`` column, if any).

    A payer id the request does not carry is not counted (its rules cannot fire). The statement depends only
    on which windows and payer ids are counted and what is carried, so it is built and compiled once per
    shape (:func:`_plan`) and run on the driver with bound values (building and cache-keying a ten-column
    statement costs more than running it)."""
    plan = _plan(need, tuple(ids), carry)
    params: dict[str, Any] = {"merchant_id": merchant_id, "livemode": livemode,
                              "business_date": business_day(now).isoformat()}
    for name, window in plan.windows:
        params[name] = now - window
    for by, value in ids.items():
        params[_ID_PARAMS[by]] = value
    if carry is not None:
        params.update(carry.params)
    row = plan.statement.rows(session, params)[0]  # aggregates and scalar subqueries: always one row
    by_account = {account_id: int(amount) for account_id, amount in rows_of(row[0])}
    found: dict[str, dict[Any, int]] = {"payer": {}, "failures": {}, "merchant": {}}
    for (kind, key), value in zip(plan.slots, row[1:1 + len(plan.slots)], strict=True):
        found[kind][key] = int(value or 0)
    return Recent(used_today=sum(by_account.values()), payer_payments=found["payer"],
                  payer_failures=found["failures"], merchant_payments=found["merchant"],
                  used_today_by_account=by_account, carried=row[-1] if carry is not None else None)


USAGE = PaymentDayUsage.__table__.c
_USAGE_TODAY = select(json_rows(USAGE.channel_account_id, USAGE.amount)).where(
    USAGE.merchant_id == bindparam("merchant_id"), USAGE.livemode == bindparam("livemode"),
    USAGE.business_date == bindparam("business_date")).scalar_subquery()


@dataclass(frozen=True)
class _Plan:
    """The measure's shape for one rule set's needs, the payer ids a request carries and what rides along:
    which counts, in which column order, over which windows, and the statement (compiled once)."""

    slots: tuple[tuple[str, Any], ...]
    windows: tuple[tuple[str, timedelta], ...]  # each window's parameter and length
    statement: Prepared


_ID_PARAMS = {by: f"id_{by}" for by in rules.PAYER_IDS}  # the payer ids' parameters (named once, not per payment)
_PLANS: dict[tuple[int, tuple[str, ...], str | None], tuple[rules.Needs, _Plan]] = {}
_STATEMENTS: dict[tuple[tuple[tuple[str, Any], ...], str | None], Prepared] = {}


def _plan(need: rules.Needs, payer_ids: tuple[str, ...], carry: Carried | None) -> _Plan:
    """Looked up by the identity of ``need`` (each rule set keeps its own), built on first use."""
    carried = carry.name if carry is not None else None
    found = _PLANS.get((id(need), payer_ids, carried))
    if found is not None and found[0] is need:
        return found[1]
    slots: tuple[tuple[str, Any], ...] = tuple(
        [("merchant", minutes) for minutes in sorted(need.merchant_payments)]
        + [(kind, (by, minutes)) for kind, windows in (("payer", need.payer_payments),
                                                       ("failures", need.payer_failures))
           for by, minutes in sorted(windows) if by in payer_ids])
    statement = _STATEMENTS.get((slots, carried))
    if statement is None:  # the statement depends only on the slots and the carried column: rule sets share it
        statement = _STATEMENTS.setdefault((slots, carried), Prepared(_recent_statement(slots, carry)))
    minutes = sorted({key if kind == "merchant" else key[1] for kind, key in slots})
    plan = _Plan(slots, tuple((f"since_{m}", timedelta(minutes=m)) for m in minutes), statement)
    if len(_PLANS) >= CACHE_LIMIT:
        _PLANS.clear()
    _PLANS[(id(need), payer_ids, carried)] = (need, plan)
    return plan


def _recent_statement(slots: tuple[tuple[str, Any], ...], carry: Carried | None) -> Any:
    """Today's usage (a JSON scalar subquery), then the window counts in one row, on the table's columns (a
    Core statement: no ORM result processing), then the carried column; the scan starts at the widest
    window, on ``ix_payments_merchant_created``. No window: the subqueries alone (one row, no FROM)."""
    def since(minutes: int) -> ColumnElement[bool]:
        return PAYMENT.created_at >= bindparam(f"since_{minutes}", type_=UTCDateTime())

    columns: list[ColumnElement[Any]] = [_USAGE_TODAY]
    for kind, key in slots:
        if kind == "merchant":
            columns.append(_count(since(key)))
            continue
        by, minutes = key
        condition = and_(since(minutes), PAYMENT.payer[by].as_string() == bindparam(f"id_{by}"))
        if kind == "failures":
            condition = and_(condition, or_(*(PAYMENT.status == status for status in FAILED)))
        columns.append(_count(condition))
    if carry is not None:
        columns.append(carry.column)
    if not slots:
        return select(*columns)
    widest = max(key if kind == "merchant" else key[1] for kind, key in slots)
    return select(*columns).where(PAYMENT.merchant_id == bindparam("merchant_id"),
                                  PAYMENT.livemode == bindparam("livemode"), since(widest))


def _history(session: Session, merchant: Merchant, livemode: bool, today: date) -> History:
    """The merchant's payments over the (at most) 30 business days before today (:mod:`.history`: daily
    roll-ups, payments only for days not rolled up yet); cached for the day."""
    cache = _histories.setdefault(session.get_bind(), {})
    key = (merchant.id, livemode, today)
    cached = cache.get(key)
    if cached is not None:
        return cached
    days = min(max((today - business_day(merchant.created_at)).days, 0), rules.HISTORY_DAYS)
    volume, count = history.merchant_history(session, merchant.id, livemode, today - timedelta(days=days), today)
    found = History(days=days, volume=volume, count=count)
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = found
    return found
