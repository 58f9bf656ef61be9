"""The fee write-back of a reconciliation run: the bill's channel fees onto the payments (and the fees the
bill returns onto the refunds), and a ledger correction where the booked fee was wrong — applied after the
run by the ``reconciliation.fees`` job. Refunds ride in the same set, batches and cursor as payments (ids
are unique across both); their corrections are :mod:`.refund_fees`.

Why a job. The first run of a big day writes a fee onto every payment of the day: a million rows at
1,000,000 orders, 7–8 s of ``UPDATE`` in one transaction. On SQLite that transaction holds the database's
only write lock, so every payment creation and callback of every merchant would wait behind it; and it is
not part of reconciling (the issue's end to end is parse + load orders + match + store differences). So
the run only *records* the fees and queues the job in its own transaction (the outbox), and the job
writes them in bounded batches (:data:`BATCH` payments ordered by payment id), one short transaction
each.

Where the fees wait between the run and the job: one row per run in ``reconciliation_fees`` holding the
run's fee set as one Parquet file (payment id, bill fee, whether the stored fee differs, and — for a
ledger correction — merchant, mode, currency and booked fee), written by DuckDB from the matcher's join.
The alternatives cost more for the same durability:

* a narrow table with a row per payment would put a million inserts (and their index) back into the run's
  transaction — the write lock again, shorter but still seconds — and a million deletes afterwards;
* re-deriving the fees from the stored bill would parse the bill, export the day's orders and match them
  all over again in the job (the whole run's cost, ~20 s at 1M), and would match against the records as
  they are then, not as the run reported them.

The Parquet file is ~15 bytes a payment (mostly the random part of the payment ids: ~15 MB for a million),
written by DuckDB in about half a second outside any transaction and stored with the run in one row, so
it commits — or not — together with the run and its job. It is dropped once applied; the row stays as
the record of the write-back (``applied_at``, counts).

Exactly once, across crashes and re-runs. Each batch's transaction writes the fees, posts the
corrections (``fee_correction:<payment id>`` / ``refund_fee_correction:<refund id>``, posted once: an
existing key is skipped) and advances ``applied_through`` (the last payment or refund id applied) together;
a crash loses at most the open batch, and the job resumes after ``applied_through``. Setting a fee is
idempotent anyway. A re-run of the day replaces the row with a new ``generation`` and resets the cursor; a
job still working on the old set sees the new generation at its next batch and stops (the re-run queued a
job for the new set, which leaves out the fees already written — the matcher compares with the stored fee —
and whose corrections already posted are skipped by their key). The row is locked per batch (``FOR
UPDATE`` on PostgreSQL; SQLite has one writer), so two workers — or a one-shot caller applying its run's
fees before it returns (the CLI, :func:`.service.run_day` with ``apply_fees``) and a worker — never apply
the same batch twice.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from indiepay.context import ServiceContext
from indiepay.core.clock import Clock
from indiepay.db.jobs.queue import enqueue
from indiepay.ledger import postings
from indiepay.ledger import repository as ledger_repository
from indiepay.ledger.appender import PostRequest
from indiepay.ledger.service import post_many
from indiepay.reconciliation import refund_fees, repository
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.models import ReconciliationFees, ReconciliationRun

FEES_JOB = "reconciliation.fees"
REFUND = "refund"
BATCH = 10_000
"""Payments per write transaction: ~0.1 s of SQLite write lock, and few enough commits to stay cheap."""
_PENDING = ("SELECT id, fee, write, fix, merchant_id, mode, currency, booked, kind FROM read_parquet($path) "
            "WHERE id > $after ORDER BY id")
_PENDING_V1 = ("SELECT payment_id, fee, write, fix, merchant_id, mode, currency, booked, 'payment' "
               "FROM read_parquet($path) WHERE payment_id > $after ORDER BY payment_id")
"""A set stored before refunds had fees (payments only, ``payment_id``), still pending after an upgrade."""
Row = tuple[Any, ...]  # the columns above, as DuckDB returns them
FIX, KIND = 3, 8  # positions in a Row: whether the ledger needs a correction; payment or refund


@dataclass
class Applied:
    """What one call of :func:`apply` did (``longest_s``: its longest write transaction, in seconds)."""

    batches: int = 0
    payments: int = 0
    corrections: int = 0
    longest_s: float = 0.0
    done: bool = False
    superseded: bool = False

    def timed(self, started: float) -> None:
        self.longest_s = max(self.longest_s, time.perf_counter() - started)


def record(session: Session, clock: Clock, run: ReconciliationRun, content: bytes, count: int) -> None:
    """In the run's transaction: replace the run's fee set with ``content`` (the Parquet file of ``count``
    payments that :meth:`.matcher.Matcher.write_fee_set` wrote) and queue the fee job; with nothing to
    write, mark it applied. Call after the run's ``executions`` was counted (it is the set's generation)."""
    now = clock.now()
    row = session.get(ReconciliationFees, run.id, with_for_update=True)
    if row is None:
        row = ReconciliationFees(run_id=run.id, created_at=now)
        session.add(row)
    row.generation, row.fee_count, row.applied_count, row.applied_through = run.executions, count, 0, None
    row.corrections, row.batches, row.updated_at = 0, 0, now
    row.content = content if count else None
    row.applied_at = None if count else now
    if count:
        enqueue(session, FEES_JOB, {"run_id": run.id}, now=now, unique_key=f"{FEES_JOB}:{run.id}")
    session.flush()


def apply(ctx: ServiceContext, run_id: str, *, batch_size: int = BATCH,
          after_batch: Callable[[Applied], None] | None = None) -> Applied:
    """Write a run's pending fees and corrections, ``batch_size`` payments per committed transaction.

    Safe to call any number of times, concurrently too (see the module docstring); an applied,
    superseded or unknown run returns at once. ``after_batch`` is called after each commit (progress;
    tests use it to crash between batches).

    Returns:
        What this call did; ``done`` when every fee of the run's current set is applied.
    """
    applied = Applied()
    with tempfile.TemporaryDirectory(prefix="indiepay-fees-") as tmp, duckdb.connect(":memory:") as duck:
        path = Path(tmp) / "fees.parquet"
        with ctx.db.read() as session:
            row = session.get(ReconciliationFees, run_id)
            channel = session.scalar(select(ReconciliationRun.channel).where(ReconciliationRun.id == run_id))
            if row is None or channel is None or row.applied_at is not None or row.content is None:
                applied.done = row is not None and row.applied_at is not None
                return applied
            generation, after = row.generation, row.applied_through or ""
            path.write_bytes(row.content)
        columns = {name for (name,) in duck.execute("SELECT name FROM parquet_schema($path)",
                                                     {"path": str(path)}).fetchall()}
        cursor = duck.execute(_PENDING if "id" in columns else _PENDING_V1, {"path": str(path), "after": after})
        while chunk := cursor.fetchmany(batch_size):
            if not _apply_batch(ctx, run_id, generation, channel, chunk, applied):
                applied.superseded = True
                return applied
            if after_batch is not None:
                after_batch(applied)
    _finish(ctx, run_id, generation, applied)
    return applied


def _current(session: Session, run_id: str, generation: int) -> ReconciliationFees | None:
    """The run's fee row, locked, if it still holds the set of ``generation`` and is not applied yet."""
    row = session.get(ReconciliationFees, run_id, with_for_update=True)
    if row is None or row.generation != generation or row.applied_at is not None:
        return None
    return row


def _apply_batch(ctx: ServiceContext, run_id: str, generation: int, channel: str, chunk: list[Row],
                 applied: Applied) -> bool:
    """One transaction: the batch's fees, its corrections and the cursor. False: the set was replaced."""
    started = time.perf_counter()
    with ctx.db.transaction() as session:
        row = _current(session, run_id, generation)
        if row is None:
            return False
        through = row.applied_through
        todo = chunk if through is None else [item for item in chunk if item[0] > through]
        if todo:  # (empty: another worker applied this batch already)
            for refunds in (False, True):
                fees = [(oid, fee) for oid, fee, write, *_, kind in todo if write and (kind == REFUND) == refunds]
                if fees:
                    repository.write_fees(session, [fees], refunds=refunds)
            corrected = correct(session, ctx.clock, channel,
                                [item for item in todo if item[FIX] and item[KIND] != REFUND])
            corrected += refund_fees.correct(session, ctx.clock, channel,
                                             [item for item in todo if item[FIX] and item[KIND] == REFUND])
            row.applied_count += len(todo)
            row.applied_through = todo[-1][0]
            row.corrections += corrected
            row.batches += 1
            row.updated_at = ctx.clock.now()
            if corrected:
                session.execute(update(ReconciliationRun).where(ReconciliationRun.id == run_id).values(
                    fee_corrections=ReconciliationRun.fee_corrections + corrected))
            applied.batches, applied.payments = applied.batches + 1, applied.payments + len(todo)
            applied.corrections += corrected
    applied.timed(started)
    return True


def _finish(ctx: ServiceContext, run_id: str, generation: int, applied: Applied) -> None:
    started = time.perf_counter()
    with ctx.db.transaction() as session:
        row = _current(session, run_id, generation)
        if row is None:
            applied.superseded = True
            return
        now = ctx.clock.now()
        row.applied_at, row.updated_at, row.content = now, now, None
    applied.done = True
    applied.timed(started)


def correct(session: Session, clock: Clock, channel: str, fixes: Sequence[Row]) -> int:
    """Post one ``fee_correction:<payment id>`` per payment in ``fixes`` not corrected before; returns how
    many were posted.

    A payment corrected before keeps its first correction (a key is posted once); a bill re-published with
    yet another fee shows up again as ``fee_mismatch`` for a person to look at."""
    keys = {f"fee_correction:{item[0]}": item for item in fixes}
    existing = ledger_repository.entry_ids_by_key(session, list(keys))
    requests = []
    for key, (payment_id, actual, _write, _fix, merchant_id, mode, currency, booked, *_) in keys.items():
        if key in existing:
            continue
        lines = r.fee_correction_lines(mode=mode, channel=channel, merchant_id=merchant_id, currency=currency,
                                       delta=actual - booked)
        plan = postings.correction(lines=lines, merchant_id=merchant_id,
                                   description=(f"channel fee of {payment_id} per the bill: {actual} fen, "
                                                f"booked {booked} fen"))
        requests.append(PostRequest(key, plan, None, None))
    for start in range(0, len(requests), 1000):
        post_many(session, clock, requests[start:start + 1000])
    return len(requests)

