"""A merchant's trailing history (volume and count of its payments over the business days before today),
which the "far above normal" rules compare today with — read from daily roll-ups, not from the payments.

The ``risk.day_volumes`` job (:mod:`.tasks`) rolls each finished business day up once, shortly after it
ends: one row per merchant and mode that had payments (``risk_day_volumes``) and a row saying the day is
done (``risk_day_volume_runs``), in one transaction. A merchant's history is then the sum of at most
thirty rows, plus a read of its payments for any day of the window not rolled up yet (the job has not run
since midnight, or a day it missed) — the same figures either way, from the same statement over payments.

A roll-up counts the statuses payments had when it ran: a payment of the day settled after that (a late
payment, a pending one closed) moves today's figures, not the history's. The history is a baseline for
spotting a day far above normal; a few such payments do not change what normal is.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from datetime import date, datetime, timedelta

from sqlalchemy import Table, bindparam, case, func, insert, or_, select
from sqlalchemy.orm import Session

from indiepay.core.clock import business_day_start
from indiepay.db.base import UTCDateTime
from indiepay.db.prepared import Prepared
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.risk.models import RiskDayVolume, RiskDayVolumeRun
from indiepay.risk.repository import COUNTED
from indiepay.risk.rules import HISTORY_DAYS

PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
VOLUMES: Table = RiskDayVolume.__table__  # type: ignore[assignment]
RUNS: Table = RiskDayVolumeRun.__table__  # type: ignore[assignment]
MERCHANTS: Table = Merchant.__table__  # type: ignore[assignment]
PAYMENT, VOLUME, RUN = PAYMENTS.c, VOLUMES.c, RUNS.c
_COUNTED_AMOUNT = func.coalesce(func.sum(case((or_(*(PAYMENT.status == status for status in COUNTED)),
                                               PAYMENT.amount), else_=0)), 0)

_SCANNED = Prepared(  # a merchant's payments between two instants, for days not rolled up
    select(_COUNTED_AMOUNT, func.count())
    .where(PAYMENT.merchant_id == bindparam("merchant_id"), PAYMENT.livemode == bindparam("livemode"),
           PAYMENT.created_at >= bindparam("start", type_=UTCDateTime()),
           PAYMENT.created_at < bindparam("end", type_=UTCDateTime())))
_ROLLED = Prepared(
    select(func.coalesce(func.sum(VOLUME.volume), 0), func.coalesce(func.sum(VOLUME.count), 0))
    .where(VOLUME.merchant_id == bindparam("merchant_id"), VOLUME.livemode == bindparam("livemode"),
           VOLUME.business_date >= bindparam("first"), VOLUME.business_date < bindparam("end")))
_DONE = Prepared(select(RUN.business_date).where(RUN.business_date >= bindparam("first"),
                                                  RUN.business_date < bindparam("end")))


def merchant_history(session: Session, merchant_id: str, livemode: bool, first: date,
                     today: date) -> tuple[int, int]:
    """Counted volume (fen) and number of the merchant's payments created on the business days
    ``[first, today)``."""
    if first >= today:
        return 0, 0
    window = {"first": first.isoformat(), "end": today.isoformat()}
    done = _done_days(session, today)
    (rolled,) = _ROLLED.rows(session, {"merchant_id": merchant_id, "livemode": livemode, **window})
    volume, count = int(rolled[0] or 0), int(rolled[1] or 0)
    for start, end in _missing_spans(first, today, done):
        (row,) = _SCANNED.rows(session, {"merchant_id": merchant_id, "livemode": livemode,
                                         "start": business_day_start(start), "end": business_day_start(end)})
        volume, count = volume + int(row[0] or 0), count + int(row[1] or 0)
    return volume, count


# per database engine: the day for which every one of the HISTORY_DAYS days before it is rolled up
_complete: weakref.WeakKeyDictionary[object, date] = weakref.WeakKeyDictionary()


def _done_days(session: Session, today: date) -> set[str] | None:
    """The days of the trailing window before ``today`` that are rolled up; None when all of them are.

    A day once rolled up stays so (a re-run replaces its rows in one transaction), so once the whole window
    is done the answer holds for the rest of ``today`` and is not read again: a merchant's first payment of
    the day then reads its roll-ups only (one statement fewer, in the payment's transaction)."""
    bind = session.get_bind()
    if _complete.get(bind) == today:
        return None
    first = today - timedelta(days=HISTORY_DAYS)
    done = {row[0] for row in _DONE.rows(session, {"first": first.isoformat(), "end": today.isoformat()})}
    if len(done) == HISTORY_DAYS:
        _complete[bind] = today
        return None
    return done


def _missing_spans(first: date, today: date, done: set[str] | None) -> Iterator[tuple[date, date]]:
    """The runs of consecutive days in ``[first, today)`` not rolled up, as ``[start, end)`` (``done``
    None: every day is)."""
    if done is None:
        return
    start: date | None = None
    day = first
    while day < today:
        if day.isoformat() in done:
            if start is not None:
                yield start, day
                start = None
        elif start is None:
            start = day
        day += timedelta(days=1)
    if start is not None:
        yield start, today


def day_volumes(session: Session, day: date) -> list[tuple[str, bool, int, int]]:
    """Every merchant's (merchant, mode, counted volume, count) of ``day`` — read outside any write
    transaction, so a big day's reading never holds SQLite's one write lock. Driven merchant by merchant
    (and mode) through the ``(merchant_id, livemode, created_at)`` index: the day's payments only."""
    start, end = business_day_start(day), business_day_start(day + timedelta(days=1))
    rows = session.execute(
        select(PAYMENT.merchant_id, PAYMENT.livemode, _COUNTED_AMOUNT, func.count())
        .select_from(MERCHANTS.join(PAYMENTS, PAYMENT.merchant_id == MERCHANTS.c.id))
        .where(PAYMENT.livemode.in_((False, True)), PAYMENT.created_at >= start, PAYMENT.created_at < end)
        .group_by(PAYMENT.merchant_id, PAYMENT.livemode))
    return [(str(m), bool(live), int(volume or 0), int(count)) for m, live, volume, count in rows]


def store_day(session: Session, day: date, volumes: list[tuple[str, bool, int, int]], now: datetime) -> None:
    """Replace ``day``'s roll-up with ``volumes`` and mark the day rolled up (one short transaction)."""
    key = day.isoformat()
    session.execute(VOLUMES.delete().where(VOLUME.business_date == key))
    session.execute(RUNS.delete().where(RUN.business_date == key))
    if volumes:
        session.execute(insert(VOLUMES), [
            {"merchant_id": m, "livemode": live, "business_date": key, "volume": volume, "count": count}
            for m, live, volume, count in volumes])
    session.execute(insert(RUNS).values(business_date=key, merchants=len(volumes),
                                                              computed_at=now))
