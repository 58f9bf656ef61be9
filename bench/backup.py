"""Benchmark: ``indiepay backup create`` on a SQLite database of ``--payments`` payments, each with its ledger
entry (five postings), against a baseline measured in the same run.

Setup (not timed): a migrated database; the payments are inserted with plain executemany statements and
their ledger entries posted through ``ledger.service.post_many`` (so the hash chain is real and the backup's
check recomputes it), plus a few audit events.

Measured, rounds alternating baseline / backup so that machine noise hits both alike (best of each):

* **baseline**: what an operator would do without IndiePay's command, with the service stopped — a plain
  copy of the database file (``shutil.copyfile``, WAL checkpointed first) and an ``fsync``;
* **backup**: :func:`indiepay.retention.backup.create_backup` — the online copy in one snapshot, the
  integrity check, the ledger's and audit log's chains recomputed on the copy, the rename;
* **check alone**: :func:`check_backup` on the copy (what ``indiepay backup check`` costs);
* **beside a writer**: one more backup, as ``indiepay backup create`` in its own process (as an operator's
  cron runs it), while a thread of this process posts one ledger entry per transaction (as callbacks do):
  the writer's commits per second during the backup against the same writer alone, and its longest
  commit — the online copy must not stop the platform (on two cores the two processes still share them).

    python bench/backup.py [--payments 100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from indiepay.accounts.models import ChannelAccount
from indiepay.audit.service import record
from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import postings, service
from indiepay.ledger.appender import PostRequest
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.retention.backup import check_backup, create_backup

T0 = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
MERCHANT, ACCOUNT = "mch_bench", "acct_bench"


def plan(amount: int) -> postings.PostingPlan:
    return postings.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=MERCHANT, amount=amount,
                                      channel_fee=amount * 6 // 1000, platform_fee=amount * 4 // 1000,
                                      description="bench payment")


def setup(db: Database, payments: int) -> None:
    clock = FixedClock(T0)
    with db.transaction() as session:
        session.add(Merchant(id=MERCHANT, name="Bench Ltd.", short_name="Bench", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="platform", created_at=T0))
        session.add(ChannelAccount(id=ACCOUNT, merchant_id=None, owner="platform", channel="wechatpay",
                                   environment="production", role="primary", status="active",
                                   base_url="https://api.mch.weixin.qq.com", credentials={}, created_at=T0,
                                   updated_at=T0))
        for n in range(20):
            record(session, clock, actor="admin", action="merchant.updated", target_type="merchant",
                   target_id=MERCHANT, merchant_id=MERCHANT, details={"n": n})
    batch = 5_000
    for start in range(0, payments, batch):
        rows: list[dict[str, Any]] = []
        for n in range(start, min(start + batch, payments)):
            at = T0 + timedelta(seconds=n % 86_400)
            rows.append({"id": f"pay_{n:024d}", "merchant_id": MERCHANT, "livemode": True,
                         "channel_account_id": ACCOUNT, "channel": "wechatpay", "method": "wechat_native",
                         "amount": 1_000 + n % 50_000, "currency": "CNY", "out_trade_no": f"T{n:020d}",
                         "description": "红茶 tea", "status": "succeeded", "collection_mode": "platform",
                         "payer": {"openid": f"o_{n}"}, "action": None, "expires_at": at + timedelta(hours=2),
                         "paid_at": at, "created_at": at, "updated_at": at, "refunded_amount": 0,
                         "refund_reserved": 0, "late_payment": False, "query_attempts": 0})
        with db.transaction() as session:
            session.execute(insert(Payment), rows)
            service.post_many(session, clock, [PostRequest(f"payment_succeeded:{row['id']}", plan(row["amount"]))
                                               for row in rows])


def plain_copy(source: Path, destination: Path) -> float:
    started = time.perf_counter()
    with sqlite3.connect(source) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    shutil.copyfile(source, destination)
    with destination.open("rb+") as handle:
        os.fsync(handle.fileno())
    return time.perf_counter() - started


class Writer(threading.Thread):
    """Posts one ledger entry per transaction until stopped; records each commit's duration."""

    def __init__(self, db: Database, tag: str) -> None:
        super().__init__(daemon=True)
        self.db, self.tag, self.stop, self.spans = db, tag, threading.Event(), list[float]()

    def run(self) -> None:
        clock, n = FixedClock(T0), 0
        while not self.stop.is_set():
            started = time.perf_counter()
            with self.db.transaction() as session:
                service.post(session, clock, event_key=f"{self.tag}:{n}", occurred_at=T0, plan=plan(1_000))
            self.spans.append(time.perf_counter() - started)
            n += 1


def writer_during(db: Database, tag: str, seconds: float | None, action: Any = None) -> tuple[float, float, float]:
    """(commits per second, longest commit s, wall s) of a writer running alone for ``seconds`` or beside
    ``action``."""
    writer = Writer(db, tag)
    started = time.perf_counter()
    writer.start()
    if action is not None:
        action()
    else:
        time.sleep(seconds or 1.0)
    writer.stop.set()
    writer.join()
    wall = time.perf_counter() - started
    return len(writer.spans) / wall, max(writer.spans, default=0.0), wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-backup-") as tmp:
        workdir = Path(tmp)
        source = workdir / "indiepay.db"
        url = f"sqlite:///{source}"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        setup(db, args.payments)
        print(f"# backup bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; setup "
              f"{args.payments:,} payments + ledger entries in {time.perf_counter() - started:.1f} s (not timed)")
        baseline, backup, check = [], [], []
        for round_ in range(args.rounds):
            baseline.append(plain_copy(source, workdir / f"plain{round_}.db"))
            made = create_backup(url, workdir / f"backup{round_}.db")
            backup.append(made.seconds)
            check.append(check_backup(made.path).seconds)
        alone = writer_during(db, "alone", seconds=max(min(backup), 1.0))
        env = {**os.environ, "INDIEPAY_DATABASE_URL": url, "INDIEPAY_VAR_DIR": str(workdir / "var")}
        command = [sys.executable, "-m", "indiepay.cli.main", "backup", "create", str(workdir / "beside.db")]
        beside = writer_during(db, "beside", None, lambda: subprocess.run(command, env=env, check=True,
                                                                          stdout=subprocess.DEVNULL))
        db.dispose()
    size_mb = made.size_bytes / 1e6
    print(f"database {size_mb:.1f} MB: {made.rows}")
    print(f"| measure | best of {args.rounds} s | MB/s | % of baseline time |")
    print("|---|---|---|---|")
    for label, runs in (("baseline: plain file copy (service stopped)", baseline), ("indiepay backup create", backup),
                        ("  of which the check (indiepay backup check)", check)):
        best = min(runs)
        print(f"| {label} | {best:.2f} | {size_mb / best:.0f} | {best / min(baseline) * 100:.0f}% |")
    print(f"writer alone: {alone[0]:.0f} commits/s, longest commit {alone[1] * 1000:.1f} ms; beside a backup "
          f"({beside[2]:.2f} s): {beside[0]:.0f} commits/s ({beside[0] / alone[0] * 100:.0f}% of alone), longest "
          f"commit {beside[1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
