"""Benchmark: admission's measure for a busy merchant — does its cost grow with the merchant's day?

The daily limits need what the merchant has counted today; the velocity rules need counts over their
windows. ``risk.features.measure_recent`` reads the first from the running sums the payments' triggers keep
(``payment_day_usage``, migration 0019) and scans only the widest rule window for the second. This bench
gives one merchant 20 → 20,000 payments spread over today up to 14:00 Beijing (two accounts, a payer pool,
a quarter closed or failed) and times, for each size, hot, on SQLite, with the 20-rule set of
``bench/risk.py``:

* **measure**: ``measure_recent`` as admission calls it;
* **day scan**: what the measure used to do for the daily limits — one statement summing the merchant's
  counted payments since the start of the business day on ``ix_payments_merchant_created`` — kept here to
  show the cost the running sums remove;
* **baseline** (same run): the merchant row's locked read every payment does anyway.

    python bench/risk_busy.py [--sizes 20,200,1000,5000,20000] [--repeat 300]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, insert, select

from indiepay.accounts.models import ChannelAccount
from indiepay.config import Settings
from indiepay.core.clock import FixedClock, business_day, business_day_start
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.merchants.auth import Principal
from indiepay.merchants.models import Merchant
from indiepay.merchants.repository import lock_merchant
from indiepay.payments.models import Payment
from indiepay.risk import features, rulesets, screening
from indiepay.risk.repository import COUNTED
from risk import NOW, RULESET_20

MERCHANT = "mch_busy"
ACCOUNTS = ("acc_busy_0", "acc_busy_1")


def timed(fn: Callable[[], Any], repeat: int) -> float:
    """Median µs of ``repeat`` calls after a warm-up (hot: the figure grows only with the work itself)."""
    for _ in range(max(repeat // 10, 5)):
        fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    times.sort()
    return times[len(times) // 2] * 1e6


def setup(db: Database) -> None:
    created = NOW - timedelta(days=400)
    with db.transaction() as session:
        session.add(Merchant(id=MERCHANT, name="Busy", short_name="Busy", subject_type="enterprise",
                             status="active", collection_mode="independent", created_at=created))
        session.flush()
        for account_id in ACCOUNTS:
            session.add(ChannelAccount(id=account_id, merchant_id=MERCHANT, owner="merchant", channel="wechatpay",
                                       environment="production", role="primary", weight=1, status="active",
                                       base_url="https://api.mch.weixin.qq.com", credentials={},
                                       created_at=created, updated_at=created))


def add_payments(db: Database, first: int, count: int, rng: random.Random) -> None:
    """``count`` more payments, spread evenly over today's business day up to NOW (as a steady day)."""
    day_start = business_day_start(business_day(NOW))
    rows = []
    for n in range(first, first + count):
        created = day_start + (NOW - day_start) * rng.random()
        status = rng.choice(("succeeded", "succeeded", "pending", "closed", "failed"))
        rows.append({"id": f"pay_busy_{n:08d}", "merchant_id": MERCHANT, "livemode": True,
                     "channel_account_id": ACCOUNTS[n % 2], "channel": "wechatpay", "method": "wechat_jsapi",
                     "amount": rng.randint(100, 50_000), "currency": "CNY", "out_trade_no": f"busy{n:08d}",
                     "description": "bench", "status": status, "collection_mode": "independent",
                     "channel_fee_bps": 60, "platform_fee_bps": 0, "refunded_amount": 0, "refund_reserved": 0,
                     "late_payment": False, "query_attempts": 0,
                     "payer": {"openid": f"o{rng.randrange(2_000)}", "client_ip": f"10.0.{rng.randrange(250)}.1"},
                     "expires_at": created + timedelta(minutes=30), "created_at": created, "updated_at": created,
                     "paid_at": created + timedelta(seconds=20) if status == "succeeded" else None})
    with db.transaction() as session:
        for start in range(0, len(rows), 5_000):
            session.execute(insert(Payment), rows[start:start + 5_000])


def figures(db: Database, ctx: Any, payer: dict[str, str], day_scan: Any, repeat: int) -> tuple[float, float, float]:
    """(baseline, measure, day scan) in µs, in one transaction, as admission runs inside a payment's."""
    with db.transaction() as session:
        active = screening.active_ruleset(ctx, session)

        def measure() -> features.Recent:
            return features.measure_recent(session, active, merchant_id=MERCHANT, livemode=True, payer=payer,
                                           now=NOW)

        baseline = timed(lambda: lock_merchant(session, MERCHANT), repeat)
        measured = timed(measure, repeat)
        scan = timed(lambda: session.execute(day_scan).scalar(), repeat)
        assert measure().used_today == int(session.execute(day_scan).scalar() or 0)  # the sums are exact
    return baseline, measured, scan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="20,200,1000,5000,20000")
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rng = random.Random(7)
    clock = FixedClock(NOW)
    payer = {"openid": "o42", "client_ip": "10.0.42.1"}
    day_start = business_day_start(business_day(NOW))
    day_scan = (select(func.sum(Payment.amount))
                .where(Payment.merchant_id == MERCHANT, Payment.livemode.is_(True),
                       Payment.created_at >= day_start, Payment.status.in_(COUNTED)))
    print(f"# busy-merchant measure bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
          f"20 rules, median of {args.repeat} hot calls")
    print("| merchant's payments today | baseline: merchant row µs | measure µs | measure % of baseline | "
          "day scan (the old daily-limit sum) µs |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'busy.db'}"
        upgrade(url)
        db = Database(url)
        ctx: Any = SimpleNamespace(settings=Settings(), clock=clock, db=db)
        setup(db)
        with db.transaction() as session:
            ruleset = rulesets.put_rules(session, ctx, Principal(role="admin", merchant_id=None, livemode=True),
                                         [{"id": r.id, "kind": r.kind, "params": dict(r.params),
                                           "outcome": r.outcome, "shadow": r.shadow, "applies_to": r.applies_to}
                                          for r in RULESET_20.rules], "bench")
        rulesets.remember(ctx, ruleset)
        have = 0
        for size in sizes:
            add_payments(db, have, size - have, rng)
            have = size
            baseline, measure, scan = figures(db, ctx, payer, day_scan, args.repeat)
            print(f"| {size:,} | {baseline:.0f} | {measure:.0f} | {measure / baseline * 100:.0f}% | {scan:.0f} |")
        db.dispose()


if __name__ == "__main__":
    main()
