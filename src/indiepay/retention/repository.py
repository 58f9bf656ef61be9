"""Retention queries: streaming reads for the archive and age summaries for the status report.

Archives cover millions of rows, so rows are never loaded a table at a time: every stream asks for
``yield_per`` batches, which on PostgreSQL is a server-side cursor and on SQLite a plain stepping cursor.
Everything runs inside the caller's (read) transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Executable, Select, case, func, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.retention.policy import Month
from indiepay.retention.tables import LEDGER_POSTINGS, Archived

YIELD_PER = 1000


def use_snapshot(session: Session) -> None:
    """Read everything that follows from one snapshot, so that an archive is one consistent moment.

    SQLite's read transaction is a snapshot already (WAL); PostgreSQL needs REPEATABLE READ, which must be
    chosen before the transaction's first statement.
    """
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})


def _stream(session: Session, query: Executable) -> Iterator[dict[str, Any]]:
    result = session.execute(query, execution_options={"yield_per": YIELD_PER})
    for row in result.mappings():
        yield dict(row)


def stream_table(session: Session, spec: Archived, since: Month | None, before: Month) -> Iterator[dict[str, Any]]:
    """Every row of ``spec`` dated in ``[since, before)``, oldest first (ties by id, so output is stable)."""
    column = spec.date_column
    query = select(spec.table).where(column < spec.bound(before)).order_by(column, spec.table.c.id)
    if since is not None:
        query = query.where(column >= spec.bound(since))
    return _stream(session, query)


def first_sequence_from(session: Session, instant: datetime) -> int | None:
    """The first ledger sequence recorded at or after ``instant`` (None when there is none yet)."""
    found = session.scalar(select(func.min(LedgerEntry.sequence)).where(LedgerEntry.created_at >= instant))
    return int(found) if found is not None else None


def last_sequence(session: Session) -> int:
    return int(session.scalar(select(func.max(LedgerEntry.sequence))) or 0)


def entry_hash(session: Session, sequence: int) -> str | None:
    return session.scalar(select(LedgerEntry.hash).where(LedgerEntry.sequence == sequence))


def stream_entries(session: Session, first: int, last: int) -> Iterator[dict[str, Any]]:
    """Ledger entries ``first..last`` in sequence (chain) order."""
    table = LedgerEntry.__table__
    query = (select(table).where(LedgerEntry.sequence.between(first, last)).order_by(LedgerEntry.sequence))
    return _stream(session, query)


def stream_postings(session: Session, first: int, last: int) -> Iterator[dict[str, Any]]:
    """The postings of entries ``first..last``, in their entries' order, each with the entry's sequence and
    the account's code (what the chain hash covers), so an archive can be re-chained without the database."""
    query = (select(LedgerPosting.id, LedgerPosting.entry_id, LedgerEntry.sequence.label("entry_sequence"),
                    LedgerPosting.account_id, LedgerAccount.code.label("account_code"), LedgerPosting.amount)
             .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
             .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
             .where(LedgerEntry.sequence.between(first, last))
             .order_by(LedgerEntry.sequence, LedgerPosting.id))
    return _stream(session, query)


@dataclass(frozen=True)
class TableAge:
    """How old one table's records are: the oldest date, and how many predate the live window and the
    retention period."""

    table: str
    rows: int
    oldest: datetime | str | None
    older_than_live_window: int
    past_retention: int


def _age(session: Session, name: str, column: ColumnElement[Any] | InstrumentedAttribute[Any], live: Any,
         floor: Any, query_from: Select[Any]) -> TableAge:
    row = session.execute(query_from.with_only_columns(
        func.count(), func.min(column), func.coalesce(func.sum(case((column < live, 1), else_=0)), 0),
        func.coalesce(func.sum(case((column < floor, 1), else_=0)), 0))).one()
    return TableAge(name, int(row[0]), row[1], int(row[2]), int(row[3]))


def table_age(session: Session, spec: Archived, live: Month, floor: Month) -> TableAge:
    """Counts for one table against the start of the live window and the retention floor."""
    return _age(session, spec.name, spec.date_column, spec.bound(live), spec.bound(floor),
                select(spec.table.c.id).select_from(spec.table))


def entries_age(session: Session, live: Month, floor: Month) -> TableAge:
    """Ledger entries, dated by when they were recorded."""
    return _age(session, "ledger_entries", LedgerEntry.created_at, live.start(), floor.start(),
                select(LedgerEntry.id))


def postings_age(session: Session, live: Month, floor: Month) -> TableAge:
    """Postings carry no date of their own: they are as old as their entry."""
    return _age(session, LEDGER_POSTINGS, LedgerEntry.created_at, live.start(), floor.start(),
                select(LedgerPosting.id).join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id))
