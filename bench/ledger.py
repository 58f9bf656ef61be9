"""Benchmark: ledger posting throughput and the T+1 settlement of a 100,000-payment day.

Posting: succeeded platform-collection payments (5 postings each) are posted through
``ledger.service.post_many`` in batches of ``--batch`` entries per transaction (as settlement runs and
imports do), and through ``ledger.service.post`` one entry per transaction (as callbacks do). The
**baseline**, measured in the same run on the same database, inserts the same entry and posting rows with
plain executemany statements — no hash chain, no idempotency check, no account resolution — so the
figure "% of baseline" is what the ledger's guarantees cost.

Settlement: a fresh database gets ``--payments`` succeeded payments spread over ``--merchants``
platform-collection merchants inside one business day (Asia/Shanghai), then ``settle_day`` runs for that
day: batches, settlement entries, payouts and their jobs. Its baseline is the bare aggregate the
settlement cannot do without — one grouped SUM of the day's payable postings per merchant.

    python bench/ledger.py [--entries 20000] [--batch 1000] [--payments 100000] [--merchants 1000]
                           [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.ledger import postings, service
from indiepay.ledger.appender import _RAW_POSTINGS_FORMAT, _RAW_POSTINGS_QMARK, PostRequest
from indiepay.ledger.fees import FeeSchedule, bps
from indiepay.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting
from indiepay.merchants.models import Merchant
from indiepay.settlements import rules as settlement_rules
from indiepay.settlements.service import settle_day

FEES = FeeSchedule(channel_rate=bps(60), platform_rate=bps(40))
DAY = date(2026, 11, 24)


def payment_plan(merchant_id: str, amount: int) -> postings.PostingPlan:
    return postings.payment_succeeded(mode="platform", channel="wechatpay", merchant_id=merchant_id, amount=amount,
                                      channel_fee=FEES.channel_fee(amount), platform_fee=FEES.platform_fee(amount),
                                      description="bench payment")


def fresh_database(url: str | None, workdir: Path, name: str) -> Database:
    if url is None:
        url = f"sqlite:///{workdir / f'{name}.db'}"
    else:  # a schema of its own on the shared server
        schema = f"bench_{name}_{secrets.token_hex(3)}"
        db = Database(url)
        with db.engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        db.dispose()
        url = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    upgrade(url)
    return Database(url)


def bench_posting(db: Database, entries: int, batch: int, merchants: int, rounds: int = 2) -> dict[str, float]:
    """Rounds alternate baseline / ledger so that machine noise and the database's growth hit both alike;
    the best round of each is reported."""
    clock = FixedClock(datetime(2026, 11, 24, 4, 0, tzinfo=UTC))
    plans = [payment_plan(f"mch_{n % merchants:04d}", 1_000 + n % 50_000) for n in range(entries)]
    with db.transaction() as session:  # warm: accounts exist and are cached, as in a running platform
        service.post_many(session, clock, [PostRequest(f"warm:{n}", plan) for n, plan in enumerate(plans[:merchants])])
    with db.read() as session:
        account_ids = {code: id_ for id_, code in session.execute(select(LedgerAccount.id, LedgerAccount.code))}
    batched, baseline = [], []
    for round_ in range(rounds):
        baseline.append(entries / _bare_inserts(db, clock, plans, batch, account_ids, f"bare{round_}"))
        started = time.perf_counter()
        for start in range(0, entries, batch):
            with db.transaction() as session:
                service.post_many(session, clock, [PostRequest(f"payment_succeeded:r{round_}:{start + n}", plan)
                                                   for n, plan in enumerate(plans[start:start + batch])])
        batched.append(entries / (time.perf_counter() - started))
    single_n = min(entries, 1_000)
    started = time.perf_counter()
    for n in range(single_n):
        with db.transaction() as session:
            service.post(session, clock, event_key=f"payment_succeeded:single:{n}", plan=plans[n])
    single = single_n / (time.perf_counter() - started)
    return {"batched": max(batched), "single": single, "baseline": max(baseline)}


def _bare_inserts(db: Database, clock: FixedClock, plans: list[postings.PostingPlan], batch: int,
                  account_ids: dict[str, str], tag: str) -> float:
    """The same rows through the same statements the ledger uses — without its chain, checks and lookups."""
    now = clock.now()
    started = time.perf_counter()
    for start in range(0, len(plans), batch):
        entry_rows: list[dict[str, Any]] = []
        posting_rows: list[tuple[str, str, str, int]] = []
        for n, plan in enumerate(plans[start:start + batch]):
            entry_id = f"{tag}_{start + n:014d}"  # ordered ids, as the ledger's own
            entry_rows.append({"id": entry_id, "event_key": f"{tag}:{start + n}", "event_type": plan.event_type,
                               "merchant_id": plan.merchant_id, "description": plan.description, "occurred_at": now,
                               "created_at": now, "reverses_entry_id": None,
                               "sequence": -(10**9 * (1 + int(tag[4:])) + start + n),
                               "prev_hash": "0" * 64, "hash": "0" * 64})
            posting_rows.extend((f"{entry_id}_{i}", entry_id, account_ids[p.account.code], p.amount)
                                for i, p in enumerate(plan.postings))
        with db.transaction() as session:
            session.execute(insert(LedgerEntry.__table__), entry_rows)
            connection = session.connection()
            connection.exec_driver_sql(_RAW_POSTINGS_QMARK if connection.dialect.paramstyle == "qmark"
                                       else _RAW_POSTINGS_FORMAT, posting_rows)
    return time.perf_counter() - started


def bench_settlement(db: Database, payments: int, merchants: int, batch: int) -> dict[str, float]:
    start_of_day, _ = settlement_rules.day_window(DAY)
    with db.transaction() as session:
        session.add_all([Merchant(id=f"mch_{n:04d}", name=f"Shop {n}", short_name=f"Shop {n}",
                                  subject_type="enterprise", contact_email=None, status="active",
                                  collection_mode="platform", platform_fee_bps=40, tech_fee_bps=0,
                                  kyc_status="complete", created_at=start_of_day) for n in range(merchants)])
    clock = FixedClock(start_of_day)
    spacing = timedelta(seconds=86_000 / payments)
    started = time.perf_counter()
    for start in range(0, payments, batch):
        requests = [PostRequest(f"payment_succeeded:day:{n}", payment_plan(f"mch_{n % merchants:04d}",
                                                                          100 + (n * 7919) % 100_000),
                                start_of_day + spacing * n) for n in range(start, min(start + batch, payments))]
        with db.transaction() as session:
            service.post_many(session, clock, requests)
    loading = time.perf_counter() - started

    after = FixedClock(settlement_rules.cutoff(DAY) + timedelta(hours=2))
    started = time.perf_counter()
    with db.transaction() as session:
        batches = settle_day(session, after, DAY)
    settle = time.perf_counter() - started
    assert len(batches) == merchants, len(batches)

    started = time.perf_counter()
    with db.read() as session:
        owed = session.execute(
            select(LedgerAccount.merchant_id, func.sum(LedgerPosting.amount))
            .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
            .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
            .where(LedgerAccount.kind == "merchant_payable",
                   LedgerEntry.occurred_at < settlement_rules.cutoff(DAY))
            .group_by(LedgerAccount.merchant_id)).all()
    baseline = time.perf_counter() - started
    assert len(owed) == merchants
    return {"loading_s": loading, "settle_s": settle, "baseline_s": baseline}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--postgres", default=os.environ.get("INDIEPAY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    targets: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.postgres:
        targets.append(("postgresql", args.postgres))
    print(f"# bench/ledger.py — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores\n")
    print("| database | post_many entries/s (batch) | post entries/s (1 per txn) | baseline bare inserts/s "
          "| post_many % of baseline | settle 100k-payment day s | baseline aggregate s | loading s |")
    print("|---|---|---|---|---|---|---|---|")
    for label, url in targets:
        with tempfile.TemporaryDirectory() as tmp:
            db = fresh_database(url, Path(tmp), "posting")
            posting = bench_posting(db, args.entries, args.batch, args.merchants)
            db.dispose()
            db = fresh_database(url, Path(tmp), "settle")
            settle = bench_settlement(db, args.payments, args.merchants, args.batch)
            db.dispose()
        print(f"| {label} | {posting['batched']:,.0f} | {posting['single']:,.0f} | {posting['baseline']:,.0f} "
              f"| {posting['batched'] / posting['baseline'] * 100:.0f}% | {settle['settle_s']:.2f} "
              f"| {settle['baseline_s']:.2f} | {settle['loading_s']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
