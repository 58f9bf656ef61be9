"""Benchmark: what limits, risk rules and routing add to each payment's write transaction.

A fresh SQLite database (migrated) holds ``--merchants`` merchants (a third enterprise, some with limits of
their own, some created in the last two weeks), each with 2–3 production WeChat Pay accounts (one or two
primaries and a backup; a daily cap on some), and ``--history`` payments over the previous 30 days and
today (mixed statuses; payers with an openid from a small per-merchant pool and a client IP from a shared
pool, so the velocity and failure windows find rows), inserted with Core executemany; the finished days
are rolled up as the ``risk.day_volumes`` job has done by 14:00.

Traffic (``--shape``). **steady** (default): 1,000,000 payments spread evenly over the month (~33,000 a
day), and today's measured payments at that same pace (one every 2.6 s of the clock, across merchants) with
the same amounts (one in fifty large): a platform's normal day. **burst**: 100,000 payments with a tenth
crowded into today, and the measured payments 50 a second with large amounts common — every merchant far
above its normal, so about half the payments are reviewed (the shape of runs before 12:00 on 2026-11-26).

The rule set has 20 rules: ``RULESET_V1`` plus rules of the same kinds with other thresholds (validated).

Per payment, to a random merchant and payer, inside one write transaction as payment creation runs it
(``Database.transaction``, merchant row locked with ``SELECT … FOR UPDATE`` — a no-op on SQLite, where
the transaction holds the database's single writer lock):

``payments.admission.admit`` — the product's own function, as payment creation calls it — which runs:

* **measure**: today's counted volume by channel account from the running sums the payments' triggers
  keep (the daily limit reads the total, routing each account's share; migration 0019), and one statement
  over the merchant's payments within the widest rule window: the rules' velocity and failure counts;
* **limits**: the single-payment and daily limits (pure, over that volume);
* **routing**: ``routing.service.choose_account`` — the merchant's accounts (plain rows), breaker
  availability from the process's ``HealthRegistry`` (every 20th account's breaker opened),
  ``route(snapshot, request, pick)`` over weights 3/1 (primaries) and 1 (backup), and the chosen account
  loaded as an entity;
* **rules**: ``screening.screen_payment`` with the 20 rules, which stores a decision (and a de-duplicated
  review alert) when a rule hits; a block rolls back.

The **baseline**, in the same run, alternating with the measured payments: the same creating transaction
without limits, rules and routing — lock and read the merchant row, load the account the payment goes to
(the merchant's first primary; routing loads the one it chose with the same statement), write the pending
payment row, commit. The measured transaction writes the same row to the account routing chose, so both
commit the same write; the measured rows are live and count in the next payments' figures as they would in
production, the baseline's are test-mode rows (the same write, outside every live figure).

**Added latency** is timed where it happens: the time inside ``admit`` (it runs inline in the transaction)
less the chosen account's load, which the baseline does too. The paired difference (measured transaction −
the baseline just before it) is printed as well, next to the difference of two identical baseline
transactions run back to back: on this machine that A/A pair alone spreads over ~±1 ms at p99, so the
paired method cannot resolve a 1 ms p99 whatever admission costs. Commit times are printed per outcome: a
review's decision (and the first alert of an incident) are written, and committed, with the payment.

Warm-up: one payment to each merchant in turn — at 14:00 the day is under way, and a server that has run
since the morning has read each active merchant's 30-day history once (cached for the day); these first
payments are reported on their own row — then ``--warmup`` random ones.

    python bench/risk.py [--shape steady|burst] [--merchants 1000] [--history N] [--payments 5000] [--seed 7]
"""

from __future__ import annotations

import argparse
import gc
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

from sqlalchemy import insert

from indiepay.accounts import repository as accounts_repository
from indiepay.accounts.models import ChannelAccount
from indiepay.config import Settings
from indiepay.core.clock import FixedClock, business_day, business_day_start
from indiepay.core.errors import Unprocessable
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.auth import Principal
from indiepay.merchants.models import Merchant
from indiepay.payments import admission
from indiepay.payments.models import Payment
from indiepay.risk import features, history, rules, rulesets, screening
from indiepay.routing import service as routing
from indiepay.routing.health import HealthRegistry

NOW = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)  # 14:00 in Beijing: most of today's business day is behind
BURST_STEP = timedelta(milliseconds=20)  # --shape burst: 50 payments a second across the merchants
HISTORY_DAYS = 30
AMOUNTS = (100, 990, 2_500, 8_800, 19_900, 49_900, 150_000, 600_000)
AMOUNT_WEIGHTS = (10, 15, 20, 20, 15, 10, 8, 2)  # one payment in fifty is large (¥6,000)
METHODS = frozenset({"wechat_native", "wechat_jsapi", "wechat_h5"})
STATUSES = (("succeeded", 60), ("closed", 22), ("pending", 6), ("failed", 7), ("expired_like_closed", 5))

RULESET_20 = rules.RuleSet("bench-20", (  # put in force through rulesets.put_rules, as PUT /v1/risk/rules does
    *rules.RULESET_V1.rules,
    rules.Rule("payer_velocity_openid_1h", 1, "payer_velocity",
               {"by": "openid", "window_minutes": 60, "max_payments": 15}, "review"),
    rules.Rule("payer_velocity_openid_1m", 1, "payer_velocity",
               {"by": "openid", "window_minutes": 1, "max_payments": 3}, "block"),
    rules.Rule("repeated_failures_openid_10m", 1, "repeated_failures",
               {"by": "openid", "window_minutes": 10, "max_failures": 3}, "review"),
    rules.Rule("large_amount_block", 1, "large_amount", {"individual": 900_000, "enterprise": 9_000_000}, "block"),
    rules.Rule("daily_cap_95", 1, "daily_cap", {"pct": 95}, "review"),
    rules.Rule("volume_above_baseline_10x", 1, "volume_baseline", {"factor": 10, "min_volume": 500_000}, "review"),
    rules.Rule("merchant_velocity_10m", 1, "merchant_velocity", {"window_minutes": 10, "factor": 8,
                                                                 "min_payments": 60}, "review"),
    rules.Rule("refund_rate_7d_strict", 1, "refund_rate", {"max_pct": 50, "min_refunds": 5}, "block",
               applies_to="refund"),
))


@dataclass
class Sample:
    """One measured payment and the baseline transaction(s) run just before it (seconds)."""

    baseline: float  # the baseline transaction, commit included
    baseline_again: float  # the same baseline once more: the paired method's own noise (an A/A pair)
    baseline_commit: float
    total: float  # the measured transaction, commit included
    commit: float
    admission: float  # time inside ``admit``
    account_load: float  # of which: loading the chosen account, which the baseline does too
    measure: float
    routing: float
    rules: float
    outcome: str
    first_of_day: bool  # the merchant's first payment of the day in this process (its history is read)

    @property
    def added(self) -> float:
        """What limits, rules and routing add: the time inside admission less the account load every payment
        does anyway (the baseline loads its account with the same statement)."""
        return self.admission - self.account_load

    @property
    def limits(self) -> float:
        """What is left of the admission once its measured parts are taken out: the limit arithmetic."""
        return max(self.admission - self.measure - self.routing - self.rules, 0.0)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def weighted_pct(values: list[tuple[float, float]], q: float) -> float:
    """The ``q`` quantile of (value, weight) pairs whose weights sum to 1."""
    total = 0.0
    for value, weight in sorted(values):
        total += weight
        if total >= q:
            return value
    return max(value for value, _ in values)


def populate(db: Database, merchants: int, history: int, rng: random.Random, *, burst: bool) -> dict[str, Any]:
    """Merchants, accounts and payments with Core executemany; returns the payer pools for the run.

    ``history`` payments spread evenly over the last 30 days up to now (``burst``: a tenth of them crowded
    into today, and smaller amounts — today already far above each merchant's normal)."""
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
                "settlement_bank": "ICBC", "weight": weights[aid],
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
        if burst and p % 10 == 0:  # a tenth is today, up to now
            created = today_start + (NOW - today_start) * rng.random()
        else:
            created = NOW - timedelta(days=HISTORY_DAYS) * rng.random()
        created = max(created, merchant_rows[int(mid[4:])]["created_at"])
        status = rng.choice(statuses)
        status = "closed" if status == "expired_like_closed" else status
        if status == "pending" and created < NOW - timedelta(hours=2):
            status = "closed"
        account = rng.choice(accounts_of[mid][:-1] or accounts_of[mid])
        payment_rows.append({
            "id": f"pay_{p:012d}", "merchant_id": mid, "livemode": True, "channel_account_id": account,
            "channel": "wechatpay", "method": "wechat_jsapi", "amount": _amount(rng, history=True, burst=burst),
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


def roll_up_history(db: Database) -> None:
    """What the ``risk.day_volumes`` job has done by 14:00: every finished day of the month rolled up."""
    today = business_day(NOW)
    for back in range(1, HISTORY_DAYS + 2):
        day = today - timedelta(days=back)
        with db.read() as session:
            volumes = history.day_volumes(session, day)
        with db.transaction() as session:
            history.store_day(session, day, volumes, NOW)


def _amount(rng: random.Random, *, history: bool, burst: bool) -> int:
    """Steady traffic: today's payments are drawn like the history's. Burst: the history has no large
    payments, today's are uniform over the amounts, large ones included."""
    if not burst:
        return rng.choices(AMOUNTS, AMOUNT_WEIGHTS)[0]
    return rng.choice(AMOUNTS[:-1] if history else AMOUNTS)


INSERT_PAYMENT = insert(Payment.__table__)  # prebuilt, as payment creation runs it


def payment_row(merchant: Merchant, account: ChannelAccount, amount: int, payer: dict[str, str],
                now: datetime, livemode: bool = True) -> dict[str, Any]:
    """The pending payment both transactions write (what creation writes before its channel call)."""
    return {"id": new_id("pay"), "merchant_id": merchant.id, "livemode": livemode, "channel_account_id": account.id,
            "channel": account.channel, "method": "wechat_jsapi", "amount": amount, "currency": "CNY",
            "out_trade_no": new_id("bench"), "description": "bench payment", "status": "pending",
            "collection_mode": "independent", "channel_fee_bps": account.fee_rate_bps, "platform_fee_bps": 0,
            "refunded_amount": 0, "refund_reserved": 0, "late_payment": False, "query_attempts": 0,
            "payer": payer, "expires_at": now + timedelta(minutes=30), "created_at": now, "updated_at": now,
            "paid_at": None}


class Timed:
    """Wraps a module function to add its run time to ``spent[name]`` (the measured call stays the product's)."""

    def __init__(self, module: Any, name: str, spent: dict[str, float]) -> None:
        self.original = getattr(module, name)
        self.last: Any = None
        self.module, self.name, self.spent = module, name, spent
        setattr(module, name, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            self.last = self.original(*args, **kwargs)
            return self.last
        finally:
            self.spent[self.name] += time.perf_counter() - started


def run(db: Database, payments: int, data: dict[str, Any], merchants: int, rng: random.Random,
        clock: FixedClock, *, step: timedelta, burst: bool, sweep: bool = False) -> list[Sample]:
    """``payments`` payments, one every ``step`` of the clock (the platform's pace across all merchants);
    ``sweep``: one to each merchant in turn instead of random ones (a warm-up: the day is under way)."""
    health = HealthRegistry(clock)
    ctx: Any = SimpleNamespace(settings=Settings(), clock=clock, db=db, health=health)  # what admission reads
    for aid in list(data["weights"])[::20]:  # every 20th account has a failing gateway: breaker open
        for _ in range(6):
            health.record(aid, "unknown")
    with db.transaction() as session:
        ruleset = rulesets.put_rules(session, ctx, Principal(role="admin", merchant_id=None, livemode=True),
                                     [{"id": r.id, "kind": r.kind, "params": dict(r.params), "outcome": r.outcome,
                                       "shadow": r.shadow, "applies_to": r.applies_to} for r in RULESET_20.rules],
                                     "bench")
    rulesets.remember(ctx, ruleset)
    assert len(rulesets.active_ruleset(ctx).rules) == 20
    spent = {"admit": 0.0, "get_account": 0.0, "measure_recent": 0.0, "choose_account": 0.0,
             "screen_payment": 0.0}
    timed = [Timed(admission, "admit", spent), Timed(accounts_repository, "get_account", spent),
             Timed(features, "measure_recent", spent), Timed(routing, "choose_account", spent)]
    screen = Timed(screening, "screen_payment", spent)
    timed.append(screen)
    seen = data.setdefault("seen", set())
    samples: list[Sample] = []
    try:
        for i in range(payments):
            clock.advance(step)
            now = clock.now()
            m = i % merchants if sweep else rng.randrange(merchants)
            mid = f"mch_{m:05d}"
            amount = _amount(rng, history=False, burst=burst)
            payer = {"openid": rng.choice(data["openids"][mid]), "client_ip": rng.choice(data["ips"])}
            baseline, baseline_commit = _baseline(db, mid, m, amount, payer, now)
            baseline_again, _ = _baseline(db, mid, m, amount, payer, now)

            for name in spent:
                spent[name] = 0.0
            screen.last = None
            first = mid not in seen
            seen.add(mid)
            started = time.perf_counter()
            body_done = started
            try:
                with screening.keep_blocked(ctx), db.transaction() as session:
                    merchant = session.get(Merchant, mid, with_for_update=True)
                    assert merchant is not None and merchant.status == "active"
                    admitted = admission.admit(session, ctx, merchant, livemode=True, method="wechat_jsapi",
                                               channel="wechatpay", amount=amount, payer=payer,
                                               payment_id=new_id("pay"), reference=f"bench{i}", now=now)
                    session.execute(INSERT_PAYMENT, payment_row(merchant, admitted.account, amount, payer, now))
                    body_done = time.perf_counter()
                outcome = screen.last.outcome if screen.last is not None else "allow"
            except screening.RiskBlocked as blocked:
                outcome = f"block ({blocked.details['rule']})"
            except Unprocessable as refused:
                outcome = refused.code
            finished = time.perf_counter()
            samples.append(Sample(
                baseline=baseline, baseline_again=baseline_again, baseline_commit=baseline_commit,
                total=finished - started, commit=finished - body_done if outcome in ("allow", "review") else 0.0,
                admission=spent["admit"], account_load=spent["get_account"], measure=spent["measure_recent"],
                routing=spent["choose_account"], rules=spent["screen_payment"], outcome=outcome,
                first_of_day=first))
    finally:
        for wrapper in timed:
            setattr(wrapper.module, wrapper.name, wrapper.original)
    return samples


def _baseline(db: Database, mid: str, m: int, amount: int, payer: dict[str, str], now: datetime) -> tuple[float, float]:
    """The creating transaction without limits, rules and routing; returns (its time, its commit's time)."""
    started = time.perf_counter()
    with db.transaction() as session:
        merchant = session.get(Merchant, mid, with_for_update=True)
        assert merchant is not None and merchant.status == "active"
        account = accounts_repository.get_account(session, f"acc_{m:05d}_0")  # its first primary
        assert account is not None
        # a test-mode row: the same write, kept out of the live figures the measured payments read
        session.execute(INSERT_PAYMENT, payment_row(merchant, account, amount, payer, now, livemode=False))
        body_done = time.perf_counter()
    finished = time.perf_counter()
    return finished - started, finished - body_done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merchants", type=int, default=1_000)
    parser.add_argument("--history", type=int, help="payments over the last 30 days (steady: 1,000,000; "
                                                      "burst: 100,000)")
    parser.add_argument("--payments", type=int, default=5_000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--shape", choices=("steady", "burst"), default="steady",
                        help="steady: today's payments come at the history's pace and are drawn like it; burst: "
                             "every merchant at many times its normal volume (half the payments are reviewed)")
    args = parser.parse_args()
    burst = args.shape == "burst"
    if args.history is None:
        args.history = 100_000 if burst else 1_000_000
    step = BURST_STEP if burst else timedelta(days=HISTORY_DAYS) / args.history
    assert len(RULESET_20.rules) == 20
    rules.validate(RULESET_20.rules)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'risk.db'}"
        upgrade(url)
        db = Database(url)
        started = time.perf_counter()
        data = populate(db, args.merchants, args.history, rng, burst=burst)
        roll_up_history(db)
        load_s = time.perf_counter() - started
        gc.collect()
        gc.freeze()  # as `indiepay serve` does once started: set-up objects are never scanned again
        clock = FixedClock(NOW)
        # the day is under way (14:00): every merchant has been paid once today in this process, as a server
        # that has run since the morning has; these first payments read the 30-day history, reported apart
        firsts = run(db, args.merchants, data, args.merchants, rng, clock, step=step, burst=burst, sweep=True)
        run(db, args.warmup, data, args.merchants, rng, clock, step=step, burst=burst)
        samples = run(db, args.payments, data, args.merchants, rng, clock, step=step, burst=burst)
        db.dispose()
    report(args, load_s, samples, firsts)


def report(args: argparse.Namespace, load_s: float, samples: list[Sample], firsts: list[Sample]) -> None:
    ms = 1000.0

    def row(label: str, values: list[float]) -> None:
        print(f"| {label} | {pct(values, 0.5):.3f} | {pct(values, 0.99):.3f} | {statistics.fmean(values):.3f} |")

    admitted = [s for s in samples if s.outcome in ("allow", "review")]
    print(f"# risk bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, {args.shape} traffic, "
          f"{args.merchants} merchants, {args.history} history payments (loaded in {load_s:.1f} s), "
          f"{len(RULESET_20.rules)} rules, {args.payments} payments")
    print("| measure | p50 ms | p99 ms | mean ms |")
    print("|---|---|---|---|")
    row("baseline transaction (lock merchant, load account, insert payment, commit)",
        [s.baseline * ms for s in samples])
    row("with limits + rules + routing", [s.total * ms for s in samples])
    row("**added**: time inside admission, less the account load the baseline does too",
        [s.added * ms for s in samples])
    row("— measure (today's sums by account + the rule windows' counts)", [s.measure * ms for s in samples])
    row("— limits (arithmetic, and what admission does around its parts)", [s.limits * ms for s in samples])
    row("— routing (accounts, route; without loading the chosen one)",
        [(s.routing - s.account_load) * ms for s in samples])
    row("— rules (evaluate; decision + alert on a hit)", [s.rules * ms for s in samples])
    outcomes: dict[str, list[Sample]] = {}
    for s in samples:
        outcomes.setdefault(s.outcome, []).append(s)
    for outcome, mine in sorted(outcomes.items()):
        row(f"added, {outcome} payments only (n={len(mine)})", [s.added * ms for s in mine])
    row(f"added, a merchant's first payment of the day in the process (history read; n={len(firsts)})",
        [s.added * ms for s in firsts])
    share = min(args.merchants / (args.history / HISTORY_DAYS), 1.0)  # first payments among a day's payments
    mixed = [(s.added * ms, (1 - share) / len(samples)) for s in samples] + [
        (s.added * ms, share / len(firsts)) for s in firsts]
    print(f"| added over a whole day: first payments at their share of a day's payments ({share:.1%}) | "
          f"{weighted_pct(mixed, 0.5):.3f} | {weighted_pct(mixed, 0.99):.3f} | "
          f"{sum(v * w for v, w in mixed):.3f} |")
    row("commit, baseline", [s.baseline_commit * ms for s in admitted])
    for outcome in ("allow", "review"):
        row(f"commit, measured {outcome}", [s.commit * ms for s in outcomes.get(outcome, [])] or [0.0])
    row("paired difference (with − baseline, per payment)", [(s.total - s.baseline) * ms for s in samples])
    row("paired difference of two identical baselines (the method's own noise)",
        [(s.baseline_again - s.baseline) * ms for s in samples])
    print()
    print("outcomes: " + ", ".join(f"{k} {len(v)}" for k, v in sorted(outcomes.items())))
    p99 = pct([s.added * ms for s in samples], 0.99)
    print(f"target ≤ 1 ms p99 added: {'met' if p99 <= 1.0 else 'NOT met'} ({p99:.3f} ms)")


if __name__ == "__main__":
    main()
