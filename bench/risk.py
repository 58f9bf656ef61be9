"""Benchmark: what limits, risk rules and routing add to each payment's write transaction.

A fresh SQLite database (migrated) holds ``--merchants`` merchants (a third enterprise, some with limits of
their own, some created in the last two weeks), each with 2–3 production WeChat Pay accounts (one or two
primaries and a backup; a daily cap on some), and ``--history`` payments over the previous 30 days and
today (mixed statuses; payers with an openid from a small per-merchant pool and a client IP from a shared
pool, so the velocity and failure windows find rows), inserted with Core executemany.

The rule set has 20 rules: ``RULESET_V1`` plus rules of the same kinds with other thresholds (validated).

Per payment, to a random merchant and payer, inside one write transaction as payment creation runs it
(``Database.transaction``, merchant row locked with ``SELECT … FOR UPDATE`` — a no-op on SQLite, where
the transaction holds the database's single writer lock):

* **routing**: the merchant's accounts, today's usage of its capped accounts (one grouped query),
  breaker availability from a ``HealthRegistry`` (some breakers opened), ``route(snapshot, request, pick)``;
* **limits**: ``payments.service._within_limits`` on the routed account (the product's own function);
* **rules**: ``risk.features.for_payment`` + ``risk.rules.evaluate`` with the 20 rules, then the same
  ``screening._act`` that stores a decision (and a review alert) when a rule hits; a block rolls back.

The **baseline**, in the same run, alternating with the measured payments: the same transaction doing
only the unavoidable part — lock the merchant row, read it, commit. The payment row itself is written by
neither (it is the same in both), so the database does not grow during the run. Added latency =
measured transaction − baseline transaction, reported as p50 / p99 / mean, with each component's own
time (it runs inside the transaction, so it is its added cost).

    python bench/risk.py [--merchants 1000] [--history 100000] [--payments 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select

from indiepay.accounts.models import ChannelAccount
from indiepay.config import Settings
from indiepay.core.clock import FixedClock, business_day, business_day_start
from indiepay.core.errors import Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.models import Merchant
from indiepay.payments.models import Payment
from indiepay.payments.service import _within_limits
from indiepay.risk import features, rules, screening
from indiepay.risk.models import RiskDecision
from indiepay.risk.repository import COUNTED
from indiepay.routing.health import HealthRegistry
from indiepay.routing.rules import AccountSnapshot, RouteRequest, route

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 14:00 in Beijing: most of today's business day is behind
METHODS = frozenset({"wechat_native", "wechat_jsapi", "wechat_h5"})
STATUSES = (("succeeded", 60), ("closed", 22), ("pending", 6), ("failed", 7), ("expired_like_closed", 5))

RULESET_20 = rules.RuleSet("bench-20", (
    *rules.RULESET_V1.rules,
    rules.Rule("payer_velocity_openid_1h", 1, "payer_velocity",
               {"by": "openid", "window_minutes": 60, "max_payments": 15}, "review"),
    rules.Rule("payer_velocity_client_ip_1h", 1, "payer_velocity",
               {"by": "client_ip", "window_minutes": 60, "max_payments": 60}, "review"),
    rules.Rule("payer_velocity_openid_1m", 1, "payer_velocity",
               {"by": "openid", "window_minutes": 1, "max_payments": 3}, "block"),
    rules.Rule("repeated_failures_openid_10m", 1, "repeated_failures",
               {"by": "openid", "window_minutes": 10, "max_failures": 3}, "review"),
    rules.Rule("large_amount_block", 1, "large_amount", {"individual": 900_000, "enterprise": 9_000_000}, "block"),
    rules.Rule("daily_cap_95", 1, "daily_cap", {"pct": 95}, "review"),
    rules.Rule("new_account_first_days", 1, "new_account", {"max_age_days": 3, "min_amount": 50_000}, "review",
               shadow=True),
    rules.Rule("volume_above_baseline_10x", 1, "volume_baseline", {"factor": 10, "min_volume": 500_000}, "review"),
    rules.Rule("merchant_velocity_10m", 1, "merchant_velocity", {"window_minutes": 10, "factor": 8,
                                                                 "min_payments": 60}, "review"),
    rules.Rule("refund_rate_7d_strict", 1, "refund_rate", {"max_pct": 50, "min_refunds": 5}, "block",
               applies_to="refund"),
))


@dataclass
class Sample:
    baseline: float
    total: float
    routing: float
    limits: float
    rules: float
    outcome: str


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def populate(db: Database, merchants: int, history: int, rng: random.Random) -> dict[str, Any]:
    """Merchants, accounts and payments with Core executemany; returns the payer pools for the run."""
    merchant_rows, account_rows, weights = [], [], {}
    for m in range(merchants):
        mid = f"mch_{m:05d}"
        enterprise = m % 3 == 0
        created = NOW - timedelta(days=rng.choice((1, 5, 10)) if m % 20 == 0 else rng.randint(40, 700))
        merchant_rows.append({
            "id": mid, "name": f"Merchant {m}", "short_name": f"M{m}",
            "subject_type": "enterprise" if enterprise else "individual", "status": "active",
            "collection_mode": "independent", "platform_fee_bps": 40, "tech_fee_bps": 0, "kyc_status": "approved",
            "single_limit": 2_000_000 if m % 10 == 1 else None,
            "daily_limit": (10_000_000 if not enterprise else 300_000_000) if m % 10 == 2 else None,
            "created_at": created, "updated_at": created})
        roles = ["primary", "backup"] if m % 3 else ["primary", "primary", "backup"]
        for n, role in enumerate(roles):
            aid = f"acc_{m:05d}_{n}"
            weights[aid] = (3 if n == 0 else 1) if role == "primary" else 1
            account_rows.append({
                "id": aid, "merchant_id": mid, "owner": "merchant", "channel": "wechatpay",
                "environment": "production", "role": role, "status": "active",
                "base_url": "https://api.mch.weixin.qq.com", "credentials": {}, "fee_rate_bps": 60,
                "settlement_bank": "ICBC",
                "daily_cap": rng.choice((2_000_000, 5_000_000)) if (m + n) % 4 == 0 else None,
                "created_at": created, "updated_at": created})
    accounts_of: dict[str, list[str]] = {}
    for row in account_rows:
        accounts_of.setdefault(row["merchant_id"], []).append(row["id"])
    openids = {f"mch_{m:05d}": [f"o{m:05d}{k:03d}" for k in range(40)] for m in range(merchants)}
    ips = [f"10.{k // 250}.{k % 250}.{rng.randint(1, 250)}" for k in range(3_000)]
    statuses = [s for s, w in STATUSES for _ in range(w)]
    today_start = business_day_start(business_day(NOW))
    payment_rows = []
    for p in range(history):
        mid = f"mch_{rng.randrange(merchants):05d}"
        if p % 10 == 0:  # a tenth is today, up to now
            created = today_start + (NOW - today_start) * rng.random()
        else:
            created = NOW - timedelta(days=30) * rng.random()
        created = max(created, merchant_rows[int(mid[4:])]["created_at"])
        status = rng.choice(statuses)
        status = "closed" if status == "expired_like_closed" else status
        if status == "pending" and created < NOW - timedelta(hours=2):
            status = "closed"
        account = rng.choice(accounts_of[mid][:-1] or accounts_of[mid])
        payment_rows.append({
            "id": f"pay_{p:012d}", "merchant_id": mid, "livemode": True, "channel_account_id": account,
            "channel": "wechatpay", "method": "wechat_jsapi", "amount": rng.choice((100, 990, 2_500, 8_800, 19_900,
                                                                                 49_900, 150_000)),
            "currency": "CNY", "out_trade_no": f"o{p:012d}", "description": "bench history", "status": status,
            "collection_mode": "independent", "channel_fee_bps": 60, "platform_fee_bps": 0,
            "refunded_amount": 0, "refund_reserved": 0, "late_payment": False, "query_attempts": 0,
            "payer": {"openid": rng.choice(openids[mid]), "client_ip": rng.choice(ips)},
            "expires_at": created + timedelta(minutes=30), "created_at": created, "updated_at": created,
            "paid_at": created + timedelta(seconds=20) if status == "succeeded" else None})
    payment_rows.sort(key=lambda row: row["created_at"])
    with db.transaction() as session:
        session.execute(insert(Merchant.__table__), merchant_rows)
        session.execute(insert(ChannelAccount.__table__), account_rows)
        for start in range(0, len(payment_rows), 10_000):
            session.execute(insert(Payment.__table__), payment_rows[start:start + 10_000])
    return {"openids": openids, "ips": ips, "weights": weights}


def snapshot_route(session: Any, merchant: Merchant, health: HealthRegistry, weights: dict[str, int],
                   request: RouteRequest, since: datetime, pick: float) -> ChannelAccount | None:
    """Routing as payment creation would run it: the accounts, today's usage of the capped ones, health."""
    accounts = list(session.scalars(select(ChannelAccount).where(
        ChannelAccount.merchant_id == merchant.id, ChannelAccount.channel == request.channel,
        ChannelAccount.environment == request.environment)))
    capped = [a.id for a in accounts if a.daily_cap is not None]
    used: dict[str, int] = {}
    if capped:
        used = dict(session.execute(
            select(Payment.channel_account_id, func.coalesce(func.sum(Payment.amount), 0))
            .where(Payment.channel_account_id.in_(capped), Payment.created_at >= since,
                   Payment.status.in_(COUNTED)).group_by(Payment.channel_account_id)).all())
    available = health.availabilities(a.id for a in accounts)
    snapshot = [AccountSnapshot(id=a.id, channel=a.channel, environment=a.environment, methods=METHODS,
                                role=a.role, weight=weights[a.id], enabled=a.status == "active",
                                health=available[a.id], daily_cap=a.daily_cap, used_today=int(used.get(a.id, 0)))
                for a in accounts]
    decision = route(snapshot, request, pick=pick)
    if decision.account_id is None:
        return None
    return next(a for a in accounts if a.id == decision.account_id)


def run(db: Database, payments: int, data: dict[str, Any], merchants: int, rng: random.Random) -> list[Sample]:
    clock = FixedClock(NOW)
    ctx: Any = SimpleNamespace(settings=Settings(), clock=clock, db=db)  # what these functions read
    health = HealthRegistry(clock)
    for aid in list(data["weights"])[::20]:  # every 20th account has a failing gateway: breaker open
        for _ in range(6):
            health.record(aid, "unknown")
    since = business_day_start(business_day(NOW))
    samples: list[Sample] = []
    for i in range(payments):
        m = rng.randrange(merchants)
        mid = f"mch_{m:05d}"
        amount = rng.choice((100, 990, 2_500, 8_800, 19_900, 49_900, 150_000, 600_000))
        payer = {"openid": rng.choice(data["openids"][mid]), "client_ip": rng.choice(data["ips"])}
        request = RouteRequest(channel="wechatpay", environment="production", method="wechat_jsapi", amount=amount)
        pick = rng.random()

        started = time.perf_counter()
        with db.transaction() as session:
            merchant = session.get(Merchant, mid, with_for_update=True)
            assert merchant is not None and merchant.status == "active"
        baseline = time.perf_counter() - started

        timings = {"routing": 0.0, "limits": 0.0, "rules": 0.0}
        outcome = "allow"
        started = time.perf_counter()
        try:
            with screening.keep_blocked(ctx), db.transaction() as session:
                merchant = session.get(Merchant, mid, with_for_update=True)
                assert merchant is not None and merchant.status == "active"
                t0 = time.perf_counter()
                account = snapshot_route(session, merchant, health, data["weights"], request, since, pick)
                t1 = time.perf_counter()
                timings["routing"] = t1 - t0
                if account is None:
                    outcome = "no_account"
                else:
                    used_today, daily_limit = _within_limits(session, ctx, merchant, account, amount, True, NOW)
                    t2 = time.perf_counter()
                    timings["limits"] = t2 - t1
                    measured = features.for_payment(session, RULESET_20, merchant=merchant, livemode=True,
                                                     amount=amount, payer=payer, used_today=used_today,
                                                     daily_limit=daily_limit, now=NOW)
                    evaluation = rules.evaluate(RULESET_20.rules, measured)
                    try:
                        screening._act(session, ctx, evaluation, RiskDecision(
                            id=new_id("rdec"), object_type="payment", object_id=new_id("pay"),
                            reference=f"bench{i}", merchant_id=merchant.id, livemode=True, amount=amount,
                            payer=dict(payer), ruleset_version=RULESET_20.version, created_at=NOW))
                    finally:
                        timings["rules"] = time.perf_counter() - t2
                    outcome = evaluation.outcome
        except screening.RiskBlocked:
            outcome = "block"
        except Unprocessable as refused:
            outcome = refused.code
        total = time.perf_counter() - started
        samples.append(Sample(baseline, total, timings["routing"], timings["limits"], timings["rules"], outcome))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--history", type=int, default=100_000)
    parser.add_argument("--payments", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    assert len(RULESET_20.rules) == 20
    rules.validate(RULESET_20.rules)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'risk.db'}"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        data = populate(db, args.merchants, args.history, rng)
        load_s = time.perf_counter() - started
        run(db, args.warmup, data, args.merchants, rng)
        samples = run(db, args.payments, data, args.merchants, rng)
        db.dispose()
    ms = 1000.0
    base = [s.baseline * ms for s in samples]
    total = [s.total * ms for s in samples]
    added = [(s.total - s.baseline) * ms for s in samples]
    parts = {name: [getattr(s, name) * ms for s in samples] for name in ("routing", "limits", "rules")}
    outcomes: dict[str, int] = {}
    for s in samples:
        outcomes[s.outcome] = outcomes.get(s.outcome, 0) + 1
    print(f"# risk bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
          f"{args.merchants} merchants, {args.history} history payments (loaded in {load_s:.1f} s), "
          f"{len(RULESET_20.rules)} rules, {args.payments} payments")
    print("| measure | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    rows = [("baseline transaction (lock + read merchant)", base), ("with limits + rules + routing", total),
            ("**added** (with − baseline, per payment)", added), ("— routing", parts["routing"]),
            ("— limits", parts["limits"]), ("— rules (features + evaluate + decision)", parts["rules"])]
    for label, values in rows:
        print(f"| {label} | {pct(values, 0.5):.3f} | {pct(values, 0.99):.3f} | {statistics.fmean(values):.3f} |")
    print()
    print("outcomes: " + ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    p99 = pct(added, 0.99)
    print(f"target ≤ 1 ms p99 added: {'met' if p99 <= 1.0 else 'NOT met'} ({p99:.3f} ms)")


if __name__ == "__main__":
    main()
