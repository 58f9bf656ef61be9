"""Benchmark: the daily prune of operational rows (``housekeeping.service.prune``) on SQLite, and what a writer
beside it waits.

Setup (not timed): a migrated SQLite database with, past their periods, ``--rows`` finished jobs, half as many
idempotency records and as many webhook delivery attempts (two per event), plus a tenth as many of each that
are still within their periods (they must stay); the file is copied so both sides start from the same rows.

Measured, each on its own copy, with a writer thread beside it committing one small insert at a time (as a
payment's callback would) and timing each commit:

* **prune**: ``prune`` as the daily job runs it — batches of ``--batch`` rows of one kind per transaction,
  oldest first, each batch re-checking what it deletes;
* **baseline**: the bare deletes — one ``DELETE … WHERE <the same condition>`` per kind, each in one
  transaction: the least work that removes the same rows, holding SQLite's write lock for all of a kind at
  once.

Printed: rows deleted per second (prune as % of the baseline), the longest write transaction of each, and
the writer's commits (count, p50 / p99 / max wait) during each — what batching buys a platform that keeps
taking payments while it prunes.

    python bench/housekeeping.py [--rows 200000] [--batch 2000]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from reconcile import _timed_transactions as timed_transactions  # bench/ is the script's own path
from sqlalchemy import delete, insert, text

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.migrate import upgrade
from indiepay.housekeeping import repository, rules, service
from indiepay.idempotency.models import IdempotencyRecord
from indiepay.merchants.models import Merchant
from indiepay.webhooks.models import Event, WebhookDelivery

NOW = datetime(2026, 11, 28, tzinfo=UTC)


def _setup(path: Path, rows: int) -> dict[str, int]:
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    old, young = NOW - timedelta(days=120), NOW - timedelta(hours=1)
    counts = {"jobs": 0, "idempotency": 0, "deliveries": 0}
    with db.transaction() as session:
        session.add(Merchant(id="mch_bench", name="Bench Ltd.", short_name="Bench", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="platform", created_at=old))
        session.execute(text("CREATE TABLE bench_writes (id INTEGER PRIMARY KEY, at TEXT)"))
    for label, at, n in (("old", old, rows), ("young", young, rows // 10)):
        for first in range(0, n, 10_000):
            chunk = range(first, min(first + 10_000, n))
            with db.transaction() as session:
                session.execute(insert(Job), [
                    {"id": f"job_{label}_{i}", "kind": "payment.query", "args": {"payment_id": f"pay_{i}"},
                     "unique_key": None, "status": "done", "run_at": at, "attempts": 1, "max_attempts": 12,
                     "created_at": at, "finished_at": at} for i in chunk])
                session.execute(insert(IdempotencyRecord), [
                    {"id": f"idem_{label}_{i}", "scope": "mch_bench:live:payments", "key": f"{label}-{i}",
                     "request_hash": "0" * 64, "status": "done", "response_status": 201,
                     "response_body": {"id": f"pay_{i}", "status": "pending", "amount": 100 + i},
                     "created_at": at} for i in chunk if i % 2 == 0])
                session.execute(insert(Event), [
                    {"id": f"evt_{label}_{i}", "merchant_id": "mch_bench", "livemode": True,
                     "type": "payment.succeeded", "dedupe_key": f"payment.succeeded:{label}:{i}",
                     "data": {"object": {"id": f"pay_{i}"}}, "delivered": True, "created_at": at}
                    for i in chunk if i % 2 == 0])
                session.execute(insert(WebhookDelivery), [
                    {"id": f"whd_{label}_{i}_{attempt}", "event_id": f"evt_{label}_{i - i % 2}",
                     "url": "https://shop.example/hook", "attempt": attempt,
                     "status_code": 500 if attempt == 1 else 200,
                     "error": "endpoint answered 500" if attempt == 1 else None, "duration_ms": 40,
                     "created_at": at}
                    for i in chunk for attempt in ((1,) if i % 2 == 0 else (2,))])
            counts["jobs"] += len(chunk)
    db.dispose()
    return counts


@contextmanager
def _writer(db: Database) -> Iterator[list[float]]:
    """A thread committing one row at a time until the block ends; yields the list of its commit times."""
    waits: list[float] = []
    stop = threading.Event()

    def run() -> None:
        n = 0
        while not stop.is_set():
            started = time.perf_counter()
            with db.transaction() as session:
                session.execute(text("INSERT INTO bench_writes (at) VALUES (:at)"), {"at": str(n)})
            waits.append(time.perf_counter() - started)
            n += 1
            time.sleep(0.002)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join()


def _prune(db: Database, batch: int) -> int:
    return service.prune(db, FixedClock(NOW), batch=batch).total


def _bare(db: Database, batch: int) -> int:
    deleted = 0
    for kind, cutoff in rules.DEFAULT_KEEP.cutoffs(NOW).items():
        table, _id, _dated, past, _recheck = repository._PAST_USE[kind]
        with db.transaction() as session:
            result = session.execute(delete(table).where(past(cutoff)).execution_options(synchronize_session=False))
            deleted += int(getattr(result, "rowcount", 0) or 0)
    return deleted


def _measure(path: Path, how: Any, batch: int) -> dict[str, Any]:
    db, beside = Database(f"sqlite:///{path}"), Database(f"sqlite:///{path}")  # the writer's own pool
    spans = timed_transactions(db)
    with _writer(beside) as waits:
        time.sleep(0.2)  # the writer's pace before
        started = time.perf_counter()
        deleted = how(db, batch)
        wall = time.perf_counter() - started
    db.dispose()
    beside.dispose()
    ordered = sorted(waits)
    return {"deleted": deleted, "wall": wall, "transactions": len(spans), "longest": max(spans),
            "writes": len(waits), "p50": statistics.median(ordered) * 1000,
            "p99": ordered[int(len(ordered) * 0.99) - 1] * 1000, "max": ordered[-1] * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=rules.BATCH)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-housekeeping-") as tmp:
        source = Path(tmp) / "source.db"
        started = time.perf_counter()
        _setup(source, args.rows)
        print(f"setup: {args.rows:,} finished jobs, {args.rows // 2:,} idempotency records, {args.rows:,} delivery "
              f"attempts past their periods (+10 % within them) ({time.perf_counter() - started:.1f} s, not timed)")
        results = {}
        for name, how in (("baseline", _bare), ("prune", _prune), ("baseline ", _bare), ("prune ", _prune)):
            copy = Path(tmp) / f"{name.strip()}.db"
            shutil.copyfile(source, copy)
            results[name] = _measure(copy, how, args.batch)
            copy.unlink()
    print(f"# housekeeping bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, SQLite, batch {args.batch:,}")
    print("| run | rows deleted | seconds | rows/s | transactions | longest transaction s | writer commits | "
          "writer wait p50 / p99 / max ms |")
    print("|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| {name.strip()} | {r['deleted']:,} | {r['wall']:.2f} | {r['deleted'] / r['wall']:,.0f} | "
              f"{r['transactions']} | {r['longest']:.3f} | {r['writes']} | {r['p50']:.1f} / {r['p99']:.1f} / "
              f"{r['max']:.0f} |")
    rate = {name.strip(): [] for name in results}
    for name, r in results.items():
        rate[name.strip()].append(r["deleted"] / r["wall"])
    share = statistics.mean(rate["prune"]) / statistics.mean(rate["baseline"]) * 100
    print(f"prune: {share:.0f} % of the baseline's rows/s; longest write transaction "
          f"{max(results[n]['longest'] for n in ('prune', 'prune ')):.3f} s against "
          f"{max(results[n]['longest'] for n in ('baseline', 'baseline ')):.3f} s")


if __name__ == "__main__":
    main()
