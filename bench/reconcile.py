"""Benchmark: reconciling a generated WeChat Pay trade bill of ``--rows`` rows (default 1,000,000) against as
many orders in a SQLite (or ``--postgres``) database, end to end, against a bare DuckDB baseline.

Setup (not timed): ``--rows`` succeeded payments of one business day on one account are inserted; a
real-format ALL-layout bill is written for them with the bill writer, streamed to disk, with a few
corruptions so that differences are stored too (every 2,000th row dropped, every 5,000th amount changed,
one row duplicated, one order only in the bill); the same bill is parsed once more into the normalised
CSV and the orders are exported to Parquet, for the baseline.

Measured, each in a fresh child process so that its peak RSS (``ru_maxrss``, which includes DuckDB's
native memory — tracemalloc would not) is its own:

* **end to end** (as issue 4 defines it: parse + load orders + match + store differences):
  ``reconciliation.service.import_bill`` on the bill file with ``apply_fees=False`` — parse (DuckDB reads
  the bill file into the matcher's database; one Python pass takes the SHA1, the stored gzip copy and
  the fast path's byte checks), store the bill, load the local orders into the matcher (as CSV lines the
  database formats, on a worker thread started with the parse, so the ``parse`` and ``local`` phases
  overlap and ``local`` is what is left to wait for),
  classify, write the fee set (Parquet) and, in one transaction, upsert the run and the differences,
  store the fee set and enqueue the ``reconciliation.fees`` job;
* **fee job**, measured on its own right after: ``reconciliation.fees.apply`` — the bill's fees onto the
  payments and the ledger fee corrections, in batches of ``--fee-batch`` payments, each its own
  transaction. What matters for the payments waiting on SQLite's single write lock is the longest
  single write transaction, printed for both (every ``Database.transaction`` is timed, from its start to
  its commit);
* **baseline**: a bare DuckDB full outer join of the same normalised CSV with the orders' Parquet file on
  ``out_trade_no``, materialised;
* **floor** (WeChat Pay only), after the baseline: the parts no run can skip, each timed alone — the bill's
  SHA1, DuckDB's checked scan of the raw bill into normalised rows (no stored copy), and the day's orders'
  three matched columns read out of SQLite — so that the ratio is read against what the issue itself asks
  of a run, not only against a join of files prepared beforehand.

With ``--channel unionpay`` the account is a UnionPay account and the bill its daily file — a zip whose ZM
entry holds the same rows in UnionPay's fixed-width layout (payments placed inside UnionPay's clearing day,
23:00 the evening before to 23:00), which the run extracts and DuckDB reads; the baseline joins the same
normalised rows.

    python bench/reconcile.py [--rows 1000000] [--postgres URL] [--fee-batch 10000] [--channel unionpay]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DAY = date(2026, 11, 24)
ACCOUNT, MERCHANT = "acct_bench", "mch_bench"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unionpay_row(row: Any, i: int) -> Any:
    """The WeChat Pay bill row as a UnionPay ZM row (same order, amount and time; the fee in whole fen)."""
    from indiepay.reconciliation.parsers.unionpay import UnionpayBillRow

    amount = row.order_total_fen
    fee = (amount * 6 + 500) // 1000  # 0.6 %, half up
    return UnionpayBillRow(kind="payment", txn_type="01", out_trade_no=row.out_trade_no, out_refund_no="",
                           query_id=f"{i:021d}", orig_query_id="", amount_fen=amount, fee_fen=fee,
                           settle_fen=amount - fee, event_time=row.trade_time, mer_id="777290058110097",
                           trace_no=f"{i % 1_000_000:06d}")


def setup(workdir: Path, rows: int, url: str, channel: str = "wechatpay") -> dict[str, Any]:
    import duckdb
    from sqlalchemy import insert, select

    from indiepay.accounts.models import ChannelAccount
    from indiepay.core.clock import BUSINESS_TZ
    from indiepay.db.engine import Database
    from indiepay.db.migrate import upgrade
    from indiepay.merchants.models import Merchant
    from indiepay.payments.models import Payment
    from indiepay.reconciliation.parsers.normalised import write_normalised_csv
    from indiepay.reconciliation.parsers.wechat_trade import WechatTradeRow, parse_wechat_trade_bill
    from indiepay.reconciliation.writers.wechat import iter_wechat_trade_bill

    started = time.perf_counter()
    upgrade(url)
    db = Database(url)
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    start = datetime(DAY.year, DAY.month, DAY.day, tzinfo=BUSINESS_TZ).astimezone(UTC)
    if channel == "unionpay":
        start -= timedelta(hours=1)  # UnionPay's clearing day starts at 23:00 the evening before
    step = 86_000 / rows
    with db.transaction() as session:
        session.add(Merchant(id=MERCHANT, name="Bench Ltd.", short_name="Bench", subject_type="enterprise",
                             contact_email=None, status="active", collection_mode="platform", created_at=epoch))
        session.flush()
        session.add(ChannelAccount(id=ACCOUNT, merchant_id=MERCHANT, owner="merchant", channel=channel,
                                   environment="production", role="primary", status="active", base_url="https://x",
                                   credentials={}, created_at=epoch, updated_at=epoch))
    table = Payment.__table__
    for first in range(0, rows, 20_000):
        batch = []
        for i in range(first, min(first + 20_000, rows)):
            at = start + timedelta(seconds=200 + i * step)
            batch.append({"id": f"pay_{i:012d}", "merchant_id": MERCHANT, "livemode": True,
                          "channel_account_id": ACCOUNT, "channel": channel,
                          "method": "unionpay_qr" if channel == "unionpay" else "wechat_native",
                          "amount": 100 + i % 50_000,
                          "currency": "CNY", "out_trade_no": f"T{i:012d}", "description": "bench",
                          "status": "succeeded", "collection_mode": "platform", "channel_fee_bps": 60,
                          "platform_fee_bps": 40, "refunded_amount": 0, "refund_reserved": 0, "payer": {},
                          "late_payment": False, "query_attempts": 0, "expires_at": at, "paid_at": at,
                          "created_at": at, "updated_at": at})
        with db.transaction() as session:
            session.execute(insert(table), batch)

    def bill_rows() -> Any:
        for i in range(rows):
            if i % 2_000 == 1_999:
                continue  # dropped: missing_in_channel
            amount = 100 + i % 50_000
            billed = amount + 1 if i % 5_000 == 4_999 else amount  # amount_mismatch
            at = (start + timedelta(seconds=200 + i * step)).astimezone(BUSINESS_TZ).replace(microsecond=0)
            row = WechatTradeRow(
                trade_time=at, app_id="wx2421b1c4370ec43b", mch_id="1900000109", sub_mch_id=None, device=None,
                transaction_id=f"4200{i:024d}", out_trade_no=f"T{i:012d}", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
                trade_type="NATIVE", trade_state="SUCCESS", bank="OTHERS", currency="CNY",
                settlement_total_fen=billed, coupon_fen=0, product="bench", attach="",
                fee=(Decimal(billed) * Decimal("0.00006")).quantize(Decimal("0.00001")), rate="0.60%",
                refund_fen=0, recharge_coupon_refund_fen=0, order_total_fen=billed, refund_requested_fen=0)
            yield row
            if i == 7:
                yield row  # duplicate_in_bill
        yield WechatTradeRow(
            trade_time=start.astimezone(BUSINESS_TZ) + timedelta(hours=12), app_id="wx", mch_id="1900000109",
            sub_mch_id=None, device=None, transaction_id="4200" + "9" * 24, out_trade_no="STRANGER", openid="o",
            trade_type="NATIVE", trade_state="SUCCESS", bank="OTHERS", currency="CNY", settlement_total_fen=500,
            coupon_fen=0, product="bench", attach="", fee=Decimal("0.03000"), rate="0.60%", refund_fen=0,
            recharge_coupon_refund_fen=0, order_total_fen=500, refund_requested_fen=0)

    normalised = workdir / "normalised.csv"
    if channel == "unionpay":
        from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip

        bill = workdir / "unionpay.zip"
        bill.write_bytes(render_unionpay_bill_zip((_unionpay_row(row, i) for i, row in enumerate(bill_rows())),
                                                  mer_id="777290058110097", clearing_day=DAY))
        with normalised.open("w", encoding="utf-8", newline="") as out:
            write_normalised_csv((_unionpay_row(row, i) for i, row in enumerate(bill_rows())), out)
    else:
        bill = workdir / "tradebill.csv"
        with bill.open("wb") as out:
            for line in iter_wechat_trade_bill(bill_rows()):
                out.write(line)
        with bill.open("rb") as source, normalised.open("w", encoding="utf-8", newline="") as out:
            write_normalised_csv(parse_wechat_trade_bill(source), out)
    orders = workdir / "orders.parquet"
    orders_csv = workdir / "orders.csv"
    with db.read() as session, orders_csv.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(("id", "out_trade_no", "amount", "status"))
        result = session.execute(select(table.c.id, table.c.out_trade_no, table.c.amount, table.c.status)
                                 .where(table.c.channel_account_id == ACCOUNT))
        for chunk in result.partitions(50_000):
            writer.writerows(chunk)
    duck = duckdb.connect()
    duck.execute("COPY (SELECT * FROM read_csv($csv, header = true)) TO $path (FORMAT parquet)",
                 {"csv": str(orders_csv), "path": str(orders)})
    duck.close()
    db.dispose()
    return {"bill": str(bill), "bill_mb": round(bill.stat().st_size / 2**20, 1), "normalised": str(normalised),
            "orders": str(orders), "setup_s": round(time.perf_counter() - started, 1)}


def _timed_transactions(db: Any) -> list[float]:
    """Time every write transaction of ``db`` (start to commit); returns the list the durations go to."""
    spans: list[float] = []
    untimed = db.transaction

    @contextmanager
    def timed() -> Iterator[Any]:
        started = time.perf_counter()
        with untimed() as session:
            yield session
        spans.append(time.perf_counter() - started)

    db.transaction = timed
    return spans


def _runtime(workdir: Path, url: str) -> Any:
    from tests.support.platform import settings_for_test

    from indiepay.core.clock import FixedClock
    from indiepay.runtime import Runtime

    clock = FixedClock(datetime(2026, 11, 25, 2, tzinfo=UTC))
    return Runtime.build(settings_for_test(workdir, url, 0, run_worker=False, mount_sandbox=False), clock)


def end_to_end(workdir: Path, url: str, bill: str) -> dict[str, Any]:
    from indiepay.reconciliation import service

    runtime = _runtime(workdir, url)
    spans = _timed_transactions(runtime.ctx.db)
    marks: list[tuple[str, float]] = []
    started = time.perf_counter()
    with open(bill, "rb") as stream:
        result = service.import_bill(runtime.ctx, ACCOUNT, stream, day=DAY, apply_fees=False,
                                     progress=lambda phase: marks.append((phase, time.perf_counter())))
    wall = time.perf_counter() - started
    runtime.close()
    edges = [*marks, ("end", started + wall)]
    phases = {name: round(edges[n + 1][1] - at, 2) for n, (name, at) in enumerate(edges[:-1])}
    run = result.run
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(_rss_mb()), "phases_s": phases,
            "bill_rows": run.bill_rows, "local_rows": run.local_rows, "matched": run.matched_count,
            "differences": dict(run.counts), "longest_tx_s": round(max(spans, default=0.0), 2)}


def fee_job(workdir: Path, url: str, batch: int) -> dict[str, Any]:
    from sqlalchemy import func, select

    from indiepay.db.jobs.models import Job
    from indiepay.payments.models import Payment
    from indiepay.reconciliation import fees, rules

    runtime = _runtime(workdir, url)
    ctx = runtime.ctx
    with ctx.db.read() as session:
        queued = session.scalar(select(func.count()).select_from(Job).where(Job.kind == fees.FEES_JOB,
                                                                            Job.status == "queued"))
    spans = _timed_transactions(ctx.db)
    started = time.perf_counter()
    applied = fees.apply(ctx, rules.run_id(ACCOUNT, DAY), batch_size=batch)
    wall = time.perf_counter() - started
    with ctx.db.read() as session:
        with_fee = session.scalar(select(func.count()).select_from(Payment).where(Payment.channel_fee.is_not(None)))
    runtime.close()
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(_rss_mb()), "queued_jobs": queued,
            "batches": applied.batches, "payments": applied.payments, "corrections": applied.corrections,
            "done": applied.done, "with_fee": with_fee, "longest_tx_s": round(max(spans, default=0.0), 3),
            "mean_tx_s": round(sum(spans) / len(spans), 3) if spans else 0.0}


def baseline(normalised: str, orders: str) -> dict[str, Any]:
    import duckdb

    started = time.perf_counter()
    duck = duckdb.connect()
    duck.execute("""
        CREATE TABLE j AS
        SELECT * FROM read_csv($bill, header = true) b
        FULL OUTER JOIN read_parquet($orders) o ON b.out_trade_no = o.out_trade_no""",
                 {"bill": normalised, "orders": orders})
    row = duck.execute("SELECT count(*) FROM j").fetchone()
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(_rss_mb()), "joined_rows": int(row[0]) if row else 0}


def floor(workdir: Path, url: str, bill: str) -> dict[str, Any]:
    """The least any run must do before it can match, each part timed alone: the bill's SHA1 (its hash is
    checked, issue 4 item 1), DuckDB's scan of the raw bill into normalised rows with the checks the issue
    asks for (backticks stripped, amounts to fen, the rows against the summary — no stored copy, no byte
    checks of the Python pass), and the day's orders' three matched columns out of the row store (SQLite only:
    Python's ``sqlite3``, 50,000 rows a fetch)."""
    import hashlib
    import sqlite3

    from indiepay.reconciliation.columnar_bill import scan_trade_bill

    started = time.perf_counter()
    digest = hashlib.sha1()  # the channel's own choice of hash: what its bill is checked by
    with open(bill, "rb") as raw:
        newlines = 0
        while block := raw.read(1 << 20):
            digest.update(block)
            newlines += block.count(b"\n")
    hashed = time.perf_counter()
    scanned = scan_trade_bill(Path(bill), workdir / "floor.parquet", newlines=newlines)
    if scanned is None:
        raise SystemExit("the bench's bill was not read by the fast path")
    scan_done = time.perf_counter()
    out: dict[str, Any] = {"sha1_s": round(hashed - started, 2), "scan_s": round(scan_done - hashed, 2),
                           "bill_rows": scanned.rows, "peak_rss_mb": round(_rss_mb())}
    if url.startswith("sqlite:///"):
        db = sqlite3.connect(url.removeprefix("sqlite:///"))
        cursor = db.execute("SELECT out_trade_no, amount, status FROM payments WHERE channel_account_id = ?",
                            (ACCOUNT,))
        rows = 0
        while chunk := cursor.fetchmany(50_000):
            rows += len(chunk)
        db.close()
        out["orders_s"], out["orders"] = round(time.perf_counter() - scan_done, 2), rows
    return out


def _child(*args: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--postgres", help="a PostgreSQL URL to use instead of SQLite (an empty database)")
    parser.add_argument("--fee-batch", type=int, default=10_000, help="payments per fee-job transaction")
    parser.add_argument("--channel", choices=("wechatpay", "unionpay"), default="wechatpay",
                        help="whose daily bill: a WeChat Pay trade bill or a UnionPay file")
    parser.add_argument("--phase", choices=("setup", "e2e", "fees", "baseline", "floor"), help=argparse.SUPPRESS)
    parser.add_argument("--workdir", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--files", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.phase:
        workdir = Path(args.workdir)
        files = json.loads(args.files) if args.files else {}
        if args.phase == "setup":
            out = setup(workdir, args.rows, args.url, args.channel)
        elif args.phase == "e2e":
            out = end_to_end(workdir, args.url, files["bill"])
        elif args.phase == "fees":
            out = fee_job(workdir, args.url, args.fee_batch)
        elif args.phase == "floor":
            out = floor(workdir, args.url, files["bill"])
        else:
            out = baseline(files["normalised"], files["orders"])
        print(json.dumps(out))
        return
    with tempfile.TemporaryDirectory(prefix="bench-reconcile-") as tmp:
        workdir = Path(tmp)
        url = args.postgres or f"sqlite:///{workdir / 'bench.db'}"
        common = ["--workdir", tmp, "--url", url]
        files = _child("--phase", "setup", "--rows", str(args.rows), "--channel", args.channel, *common)
        print(f"setup: {args.rows:,} {args.channel} orders, bill {files['bill_mb']} MB ({files['setup_s']} s, "
              "not timed)")
        e2e = _child("--phase", "e2e", *common, "--files", json.dumps(files))
        fee = _child("--phase", "fees", *common, "--fee-batch", str(args.fee_batch))
        base = _child("--phase", "baseline", *common, "--files", json.dumps(files))
        least = _child("--phase", "floor", *common, "--files", json.dumps(files)) if args.channel == "wechatpay" \
            else None
    ratio = e2e["wall_s"] / base["wall_s"] if base["wall_s"] else float("inf")
    print(f"end to end : {e2e['wall_s']:8.2f} s  peak RSS {e2e['peak_rss_mb']:6} MB  phases {e2e['phases_s']}")
    print(f"             bill rows {e2e['bill_rows']:,}, local rows {e2e['local_rows']:,}, matched {e2e['matched']:,}, "
          f"differences {e2e['differences']}; longest write transaction {e2e['longest_tx_s']} s")
    print(f"fee job    : {fee['wall_s']:8.2f} s  peak RSS {fee['peak_rss_mb']:6} MB  (not in the end to end; "
          f"{fee['queued_jobs']} job queued by the run) {fee['payments']:,} fees, {fee['corrections']:,} "
          f"corrections in {fee['batches']} batches of ≤ {args.fee_batch:,}; longest write transaction "
          f"{fee['longest_tx_s']} s (mean {fee['mean_tx_s']} s); payments with a fee {fee['with_fee']:,}")
    print(f"baseline   : {base['wall_s']:8.2f} s  peak RSS {base['peak_rss_mb']:6} MB  (DuckDB full outer join of the "
          f"normalised CSV and the orders' Parquet, {base['joined_rows']:,} rows)")
    if least is not None:
        bill_part = least["sha1_s"] + least["scan_s"]
        print(f"floor      : the bill's SHA1 {least['sha1_s']} s + DuckDB's checked scan of it {least['scan_s']} s = "
              f"{bill_part:.2f} s ({bill_part / base['wall_s']:.1f}x the baseline) before any order is read or "
              f"matched" + (f"; the day's {least['orders']:,} orders' three columns out of SQLite "
                            f"{least['orders_s']} s ({least['orders_s'] / base['wall_s']:.1f}x)" if "orders_s" in least
                            else ""))
    print(f"ratio      : {ratio:.1f}x the baseline (target ≤ 3x); peak RSS target < 1536 MB")


if __name__ == "__main__":
    main()
