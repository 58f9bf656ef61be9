"""Queries of reconciliation: stored bills, the local rows a day is matched against, runs and differences.

The local side of a day is streamed out of the database in chunks straight into a CSV file for the
matcher (:func:`export_local`), never held as a list: a million orders cost one chunk of memory. The
business-day arithmetic happens in SQL against UTC bounds computed from Asia/Shanghai, so neither the
database's nor the server's time zone matters.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TextIO

from sqlalchemy import (
    ColumnElement,
    Integer,
    Numeric,
    Select,
    Table,
    and_,
    case,
    cast,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute, Session

from indiepay.accounts.models import ChannelAccount
from indiepay.db.base import UTCDateTime
from indiepay.db.hints import not_for_lookup
from indiepay.payments.models import Payment
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.matcher import LOCAL_COLUMNS
from indiepay.reconciliation.models import (
    ReconciliationBill,
    ReconciliationDifference,
    ReconciliationFees,
    ReconciliationRun,
)
from indiepay.refunds.models import Refund

Rows = Select[*tuple[Any, ...]]
PAYMENTS: Table = Payment.__table__  # type: ignore[assignment]
REFUNDS: Table = Refund.__table__  # type: ignore[assignment]
CHUNK = 20_000
KEY_CHUNK = 500


@dataclass(frozen=True)
class Window:
    """The UTC bounds a day's local rows are placed by: the day, its neighbours and the midnight margins.

    ``starts_before``: the channel's day starts this long before Beijing midnight (UnionPay clears from 23:00
    the evening before), so that a payment lands on the day whose bill shows it."""

    day: date
    margin: timedelta
    starts_before: timedelta = timedelta(0)

    def bound(self, offset: int) -> datetime:
        """Start of the channel's day ``day + offset`` in UTC."""
        return r.day_bounds(self.day + timedelta(days=offset))[0] - self.starts_before


def _at(value: datetime) -> ColumnElement[datetime]:
    return literal(value, UTCDateTime())


def _placement(event: ColumnElement[Any], window: Window) -> ColumnElement[int]:
    """The event instant's ``slot`` in the window (decoded by the matcher: :data:`.matcher.SLOTS`).

    One CASE whose first branch is the common case (inside the day, away from midnight) rather than a
    ``day_offset`` and a ``near`` column: every branch re-evaluates the event expression, and on a million
    rows the eight comparisons of two columns cost SQLite seconds."""
    start, end = window.bound(0), window.bound(1)
    return case((and_(event >= _at(start + window.margin), event < _at(end - window.margin)), 3),
                (event < _at(window.bound(-1)), 0), (event < _at(start), 1), (event < _at(start + window.margin), 2),
                (event < _at(end), 4), (event < _at(window.bound(2)), 5), else_=6)


Moments = tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any]]
"""When a row was created and when it settled (paid, succeeded): its event instant is one of the two."""


def _payment_rows(account_id: str, window: Window) -> tuple[Rows, ColumnElement[Any], Moments]:
    paid = func.coalesce(Payment.paid_at, Payment.created_at)
    event: ColumnElement[Any] = case((Payment.status == "succeeded", paid), else_=Payment.created_at)
    slot = _placement(event, window)
    query: Rows = select(literal("payment"), Payment.channel_out_trade_no, literal(""), Payment.id, Payment.id,
                         Payment.merchant_id, Payment.collection_mode, Payment.currency,
                         cast(Payment.livemode, Integer), Payment.amount, Payment.status, Payment.channel_fee_bps,
                         Payment.channel_fee, slot
                         ).where(Payment.channel_account_id == account_id)
    return query, event, (Payment.created_at, Payment.paid_at)


def _refund_rows(account_id: str, window: Window, *, windowed: bool = False) -> tuple[Rows, ColumnElement[Any],
                                                                                   Moments]:
    """``windowed``: the rows will be found by their moments (:func:`local_queries`), so the account's
    payments must not be where the join starts (:func:`~indiepay.db.hints.not_for_lookup`)."""
    done = func.coalesce(Refund.succeeded_at, Refund.created_at)  # a refund succeeds with its succeeded_at
    account = not_for_lookup(PAYMENTS.c.channel_account_id) if windowed else Payment.channel_account_id
    event: ColumnElement[Any] = case((Refund.status == "succeeded", done), else_=Refund.created_at)
    slot = _placement(event, window)
    query: Rows = (select(literal("refund"), Payment.channel_out_trade_no, Refund.channel_out_refund_no, Refund.id,
                          Payment.id,
                          Payment.merchant_id, Payment.collection_mode, Refund.currency,
                          cast(Payment.livemode, Integer), Refund.amount, Refund.status, Payment.channel_fee_bps,
                          Refund.channel_fee_returned, slot)
                   .join(Payment, Payment.id == Refund.payment_id).where(account == account_id))
    return query, event, (Refund.created_at, Refund.succeeded_at)


def _csv_line(query: Rows, dialect: str) -> Select[str]:
    """The query with its columns folded into one CSV line that the database formats.

    A million local rows then cost the Python side one string each instead of fifteen values, a row object
    and a trip through the csv module. One ``format()`` call per row (SQLite ≥ 3.38, PostgreSQL) builds the
    line in one buffer — a chain of ``||`` costs SQLite twice as much. Text is quoted SQL-style, in single
    quotes with quotes doubled (SQLite's ``%Q``; spelled out for PostgreSQL, whose ``%L`` would write
    ``E'…'`` around a backslash); NULL is written ``NULL`` or left empty; :data:`.matcher.LOCAL_CSV` reads it.
    """
    marks: list[str] = []
    values: list[ColumnElement[Any]] = []
    for column in query.selected_columns:
        if isinstance(column.type, Integer | Numeric):
            marks.append("%s")
            values.append(column)
        elif dialect == "sqlite":
            marks.append("%Q")
            values.append(column)
        else:
            quote: ColumnElement[str] = literal_column("''''")
            marks.append("%s")
            values.append(quote.concat(func.replace(column, quote, literal_column("''''''"))).concat(quote))
    return query.with_only_columns(func.format(",".join(marks), *values).label("line"))


def _write(session: Session, query: Rows, out: TextIO) -> int:
    count = 0
    connection = session.connection()
    result = connection.execution_options(stream_results=True, yield_per=CHUNK).execute(
        _csv_line(query, connection.dialect.name))
    for lines in result.scalars().partitions(CHUNK):
        out.write("\n".join(lines))
        out.write("\n")
        count += len(lines)
    return count


def local_queries(account_id: str, window: Window) -> list[Rows]:
    """The account's payments and refunds whose business day is the window's day or a neighbour, with
    :data:`LOCAL_COLUMNS` — as several queries whose rows never overlap.

    The event instant (paid or created; succeeded or created) is an expression no index serves, and the
    event lies in the window only if its creation or its settlement does. So each kind is read twice: the
    rows created in the window (a range of the account's creations, which holds almost all of them), then
    the rows settled in the window but created outside it (a payment paid days after it was opened; the
    settlement index carries the creation instant, so telling those apart reads no table row). Both keep
    the event's own test. A run thus reads its window, not every row the account ever had (the indexes of
    migration 0015)."""
    start, end = _at(window.bound(-1)), _at(window.bound(2))
    queries: list[Rows] = []
    for query, event, (created, settled) in (_payment_rows(account_id, window),
                                             _refund_rows(account_id, window, windowed=True)):
        in_window = query.where(event >= start, event < end)
        queries.append(in_window.where(created >= start, created < end))
        queries.append(in_window.where(settled >= start, settled < end, or_(created < start, created >= end)))
    return queries


def export_local(session: Session, account_id: str, window: Window, out: TextIO) -> int:
    """Write :func:`local_queries` as CSV with :data:`LOCAL_COLUMNS`, streaming in chunks. Returns the number
    of rows written."""
    out.write(",".join(LOCAL_COLUMNS) + "\n")
    return sum(_write(session, query, out) for query in local_queries(account_id, window))


def lookup_local(session: Session, account_id: str, window: Window,
                 keys: Sequence[tuple[str, str, str]]) -> list[tuple[Any, ...]]:
    """Local rows for bill keys by number (as the channel knows them), whatever their date (a payment created
    long before it was paid)."""
    found: list[tuple[Any, ...]] = []
    for kind, column in (("payment", Payment.channel_out_trade_no), ("refund", Refund.channel_out_refund_no)):
        numbers = sorted({(orn if kind == "refund" else otn) for k, otn, orn in keys if k == kind})
        query = (_payment_rows if kind == "payment" else _refund_rows)(account_id, window)[0]
        for start in range(0, len(numbers), KEY_CHUNK):
            rows = session.execute(query.where(column.in_(numbers[start:start + KEY_CHUNK])))
            found.extend(tuple(row) for row in rows)
    return found


FEE_TABLE = "reconciliation_fee_writeback"
_MARKS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def write_fees(session: Session, chunks: Iterable[Sequence[tuple[str, int]]], *, refunds: bool = False) -> int:
    """Store the channel's fee on the payments (``(payment id, fee)`` pairs, in chunks) — or, with
    ``refunds``, the fee returned on the refunds (``refunds.channel_fee_returned``); returns how many.

    The fee job (:mod:`.fees`) calls this once per batch of a run's fee set (10,000 payments by default,
    a million on a big day's first run): the pairs go into a temporary table — PostgreSQL's ``COPY``, SQLite's
    executemany (plain tuples, no per-row statement building) — then one ``UPDATE … FROM`` (SQLite ≥ 3.33, PostgreSQL)
    sets them — several times faster than an UPDATE per payment. The table lives and dies inside the
    caller's transaction.
    """
    table, column = (REFUNDS.name, "channel_fee_returned") if refunds else (PAYMENTS.name, "channel_fee")
    connection = session.connection()
    mark = _MARKS[connection.dialect.paramstyle]
    connection.exec_driver_sql(f"DROP TABLE IF EXISTS {FEE_TABLE}")
    connection.exec_driver_sql(f"CREATE TEMPORARY TABLE {FEE_TABLE} (payment_id VARCHAR(40) NOT NULL, "
                               "fee BIGINT NOT NULL)")
    count = 0
    if connection.dialect.name == "postgresql":  # COPY: ~20× faster than executemany there (0.008 s / 10,000)
        driver = connection.connection.driver_connection  # the session's own connection and transaction
        assert driver is not None
        with driver.cursor() as cursor, cursor.copy(f"COPY {FEE_TABLE} (payment_id, fee) FROM STDIN") as copy:
            for chunk in chunks:
                for pair in chunk:
                    copy.write_row(pair)
                count += len(chunk)
    else:
        for chunk in chunks:
            if chunk:
                connection.exec_driver_sql(f"INSERT INTO {FEE_TABLE} (payment_id, fee) VALUES ({mark}, {mark})",  # noqa: S608
                                           list(chunk))
                count += len(chunk)
    if count:
        connection.exec_driver_sql(f"UPDATE {table} SET {column} = f.fee FROM {FEE_TABLE} f "  # noqa: S608
                                   f"WHERE {table}.id = f.payment_id")
    connection.exec_driver_sql(f"DROP TABLE {FEE_TABLE}")
    return count


def account(session: Session, account_id: str) -> ChannelAccount | None:
    return session.get(ChannelAccount, account_id)


def active_accounts(session: Session, account_id: str | None = None) -> list[ChannelAccount]:
    query = select(ChannelAccount).where(ChannelAccount.status == "active").order_by(ChannelAccount.id)
    if account_id is not None:
        query = select(ChannelAccount).where(ChannelAccount.id == account_id)
    return list(session.scalars(query))


def bill(session: Session, account_id: str, day: date, kind: str = "trade") -> ReconciliationBill | None:
    return session.scalars(select(ReconciliationBill).where(
        ReconciliationBill.account_id == account_id, ReconciliationBill.business_date == day.isoformat(),
        ReconciliationBill.kind == kind)).first()


def stored_days(session: Session, account_id: str, days: Iterable[date], kind: str = "trade") -> set[date]:
    names = [d.isoformat() for d in days]
    rows = session.scalars(select(ReconciliationBill.business_date).where(
        ReconciliationBill.account_id == account_id, ReconciliationBill.kind == kind,
        ReconciliationBill.business_date.in_(names)))
    return {date.fromisoformat(value) for value in rows}


def bills_of_day(session: Session, day: date, account_id: str | None = None) -> list[str]:
    """Accounts with a stored trade bill for ``day``."""
    query = select(ReconciliationBill.account_id).where(ReconciliationBill.business_date == day.isoformat(),
                                                        ReconciliationBill.kind == "trade")
    if account_id is not None:
        query = query.where(ReconciliationBill.account_id == account_id)
    return sorted(session.scalars(query))


def differences_of_day(session: Session, account_id: str, day: date) -> dict[str, ReconciliationDifference]:
    rows = session.scalars(select(ReconciliationDifference).where(
        ReconciliationDifference.account_id == account_id,
        ReconciliationDifference.business_date == day.isoformat()))
    return {row.id: row for row in rows}


def days_with_open(session: Session, account_id: str, klass: str, since: date, until: date) -> list[date]:
    rows = session.scalars(select(ReconciliationDifference.business_date).distinct().where(
        ReconciliationDifference.account_id == account_id, ReconciliationDifference.klass == klass,
        ReconciliationDifference.status == r.OPEN, ReconciliationDifference.business_date >= since.isoformat(),
        ReconciliationDifference.business_date <= until.isoformat()))
    return sorted(date.fromisoformat(value) for value in rows)


def runs(session: Session, *, account_ids: Sequence[str] | None, day: date | None = None,
         month: str | None = None, limit: int = 50) -> list[ReconciliationRun]:
    """Runs newest day first; ``account_ids`` None means every account (the operator)."""
    query = select(ReconciliationRun).order_by(ReconciliationRun.business_date.desc(), ReconciliationRun.id)
    if account_ids is not None:
        query = query.where(ReconciliationRun.account_id.in_(list(account_ids)))
    if day is not None:
        query = query.where(ReconciliationRun.business_date == day.isoformat())
    if month is not None:
        query = query.where(ReconciliationRun.business_date.like(f"{month}-%"))
    return list(session.scalars(query.limit(limit)))


def run_differences(session: Session, run_ids: Sequence[str]) -> dict[str, list[ReconciliationDifference]]:
    grouped: dict[str, list[ReconciliationDifference]] = {run_id: [] for run_id in run_ids}
    if run_ids:
        rows = session.scalars(select(ReconciliationDifference).where(
            ReconciliationDifference.run_id.in_(list(run_ids))).order_by(
            ReconciliationDifference.klass, ReconciliationDifference.out_trade_no, ReconciliationDifference.id))
        for row in rows:
            grouped[row.run_id].append(row)
    return grouped


def fee_sets(session: Session, run_ids: Sequence[str]) -> dict[str, ReconciliationFees]:
    """The fee write-back state of the given runs (without the fee sets' content)."""
    if not run_ids:
        return {}
    rows = session.scalars(select(ReconciliationFees).where(ReconciliationFees.run_id.in_(list(run_ids))))
    return {row.run_id: row for row in rows}


def difference_counts(session: Session, run_ids: Sequence[str]) -> list[tuple[str, str, int, int]]:
    """``(class, status, count, channel amount)`` over the given runs, for the monthly report."""
    if not run_ids:
        return []
    rows = session.execute(select(ReconciliationDifference.klass, ReconciliationDifference.status, func.count(),
                                  func.coalesce(func.sum(ReconciliationDifference.channel_amount), 0))
                           .where(ReconciliationDifference.run_id.in_(list(run_ids)))
                           .group_by(ReconciliationDifference.klass, ReconciliationDifference.status))
    return [(str(k), str(s), int(n), int(a or 0)) for k, s, n, a in rows]


def accounts_of(session: Session, *, merchant_id: str | None, environment: str | None) -> list[str]:
    """Ids of the accounts a caller may see (``merchant_id`` None: every owner, the operator)."""
    query = select(ChannelAccount.id)
    if merchant_id is not None:
        query = query.where(ChannelAccount.merchant_id == merchant_id)
    if environment is not None:
        query = query.where(ChannelAccount.environment == environment)
    return list(session.scalars(query))
