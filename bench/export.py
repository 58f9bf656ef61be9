"""Benchmark: the transactions export (``indiepay.statements.transactions``) over a month of a busy shop.

Setup (not timed): a migrated SQLite database with one merchant, ``--payments`` paid payments spread over
30 Beijing days (every tenth refunded in two parts) and as many payments of another merchant beside them.

Measured, each in a child process of its own so that its peak RSS is its own, nothing else running:

* ``csv``: the export as ``GET /v1/exports/transactions?format=csv`` produces it — the rows read in keyset
  pages from the partial indexes, merged in time order, fees computed (refunds' cumulative share by a
  correlated sum), every text cell made inert, written as CSV — into a null sink;
* ``xlsx``: the same rows written as a workbook (`statements.xlsx`, streamed) into a temporary file;
* **baseline**: the unavoidable part — one bare ``SELECT`` of the same payments and one of the same refunds
  (no fees, no merge, no paging) written with ``csv.writer`` into the same sink.

Reported: seconds, rows per second, peak RSS, and each as % of the baseline's time.

    python bench/export.py [--payments 200000]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from indiepay.db.engine import Database  # noqa: E402
from indiepay.db.migrate import upgrade  # noqa: E402

FIRST = date(2026, 10, 1)
DAYS = 30


def stored(moment: datetime) -> str:
    """An instant as the platform stores it on SQLite (``indiepay.db.base.UTCDateTime``): the rows written
    here compare in SQL exactly as the platform's own do."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def setup(url: str, payments: int) -> None:
    upgrade(url)
    db = Database(url)
    now = datetime(2026, 9, 1, tzinfo=UTC)
    with db.engine.begin() as connection:
        for merchant in ("mch_bench", "mch_other"):
            connection.exec_driver_sql(
                "INSERT INTO merchants (id, name, short_name, subject_type, status, collection_mode, "
                "platform_fee_bps, tech_fee_bps, kyc_status, created_at) VALUES (?, ?, ?, 'enterprise', 'active', "
                "'platform', 40, 0, 'complete', ?)", (merchant, merchant, merchant, stored(now)))
        connection.exec_driver_sql(
            "INSERT INTO channel_accounts (id, merchant_id, owner, channel, environment, role, status, base_url, "
            "credentials, fee_rate_bps, created_at, updated_at) VALUES ('acct_bench', NULL, 'platform', "
            "'wechatpay', 'production', 'primary', 'active', 'https://api.mch.weixin.qq.com', '{}', 60, ?, ?)",
            (stored(now), stored(now)))
    span = DAYS * 86_400
    rows, refunds = [], []
    for merchant in ("mch_bench", "mch_other"):
        for n in range(payments):
            paid = datetime(2026, 9, 30, 16, tzinfo=UTC) + timedelta(seconds=n * span // payments)
            payment_id = f"pay_{merchant[4:]}_{n:08d}"
            rows.append((payment_id, merchant, payment_id, 1_000 + n % 5_000, stored(paid), stored(paid),
                         stored(paid + timedelta(hours=2)), stored(paid), 55 if n % 3 == 0 else None))
            if n % 10 == 0:
                for part in range(2):
                    refunds.append((f"re_{merchant[4:]}_{n:08d}_{part}", merchant, payment_id, 300,
                                    f"R{n:08d}{part}", stored(paid + timedelta(hours=1 + part))))
    with db.engine.begin() as connection:
        connection.exec_driver_sql(
            "INSERT INTO payments (id, merchant_id, livemode, channel_account_id, channel, method, amount, currency, "
            "out_trade_no, description, status, collection_mode, channel_fee_bps, platform_fee_bps, refunded_amount, "
            "refund_reserved, payer, late_payment, query_attempts, created_at, updated_at, expires_at, paid_at, "
            "channel_fee) VALUES (?, ?, 1, 'acct_bench', 'wechatpay', 'wechat_native', ?, 'CNY', ?, 'Green tea', "
            "'succeeded', 'platform', 60, 40, 0, 0, '{}', 0, 0, ?, ?, ?, ?, ?)",
            [(r[0], r[1], r[3], r[2], r[4], r[5], r[6], r[7], r[8]) for r in rows])
        connection.exec_driver_sql(
            "INSERT INTO refunds (id, merchant_id, livemode, payment_id, amount, currency, status, out_refund_no, "
            "query_attempts, created_at, updated_at, succeeded_at) VALUES (?, ?, 1, ?, ?, 'CNY', 'succeeded', ?, 0, "
            "?, ?, ?)", [(r[0], r[1], r[2], r[3], r[4], r[5], r[5], r[5]) for r in refunds])
    db.dispose()


class Sink(io.RawIOBase):
    """Counts what is written, keeps nothing (a client reading the download as fast as it comes)."""

    def __init__(self) -> None:
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self.size += len(data)
        return len(data)


def phase(url: str, name: str) -> dict[str, float]:
    from indiepay.statements import render, transactions

    db = Database(url)
    span = transactions.Span(FIRST, FIRST + timedelta(days=DAYS - 1))
    started = time.perf_counter()
    count = 0
    size = 0
    if name == "csv":
        for chunk in render.transactions_csv(transactions.rows(db, "mch_bench", True, span)):
            size += len(chunk)
            count += chunk.count(b"\r\n")
        count -= 2  # the header and the totals
    elif name == "xlsx":
        with tempfile.TemporaryFile() as target:
            render.transactions_xlsx(transactions.rows(db, "mch_bench", True, span), target)
            size = target.tell()
        count = -1
    else:
        sink = io.TextIOWrapper(Sink(), encoding="utf-8", newline="")
        writer = csv.writer(sink, lineterminator="\r\n")
        with db.engine.connect() as connection:
            for statement in (
                    "SELECT paid_at, id, out_trade_no, channel, method, amount, channel_fee, description FROM payments "
                    "WHERE merchant_id = ? AND livemode = 1 AND paid_at >= ? AND paid_at < ?",
                    "SELECT succeeded_at, id, out_refund_no, amount, channel_fee_returned, reason FROM refunds "
                    "WHERE merchant_id = ? AND livemode = 1 AND succeeded_at >= ? AND succeeded_at < ?"):
                for row in connection.exec_driver_sql(statement, ("mch_bench", stored(span.start),
                                                                  stored(span.end))):
                    writer.writerow(row)
                    count += 1
        sink.flush()
    elapsed = time.perf_counter() - started
    db.dispose()
    return {"seconds": elapsed, "rows": count, "bytes": size, "peak_mb": peak_rss_mb()}


def peak_rss_mb() -> float:
    """This process's own peak RSS (``VmHWM``: unlike ``ru_maxrss``, not inherited from the parent that
    forked it, which holds the setup's rows)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, name: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--phase", name, "--url", url], check=True,
                          capture_output=True, text=True)
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=200_000)
    parser.add_argument("--phase", choices=("csv", "xlsx", "baseline"))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.phase:
        print(json.dumps(phase(args.url, args.phase)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'export.db'}"
        started = time.perf_counter()
        setup(url, args.payments)
        print(f"# export bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
              f"{args.payments} payments of the merchant (+{args.payments // 5} refunds) over {DAYS} days and as "
              f"many of another merchant; setup {time.perf_counter() - started:.1f} s")
        runs: dict[str, list[dict[str, float]]] = {"baseline": [], "csv": [], "xlsx": []}
        for name in ("baseline", "csv", "xlsx", "baseline", "csv"):  # interleaved: noise hits both alike
            runs[name].append(measure(url, name))
    base = min(run["seconds"] for run in runs["baseline"])
    rows = runs["baseline"][0]["rows"]
    if any(run["rows"] != rows for run in runs["csv"]):
        raise SystemExit(f"the export wrote {runs['csv'][0]['rows']} rows, the baseline {rows}")
    print("| run | seconds (best) | rows/s | peak RSS MB | % of the baseline |")
    print("|---|---|---|---|---|")
    for name, label in (("baseline", "bare SELECTs → csv.writer (baseline)"), ("csv", "export as CSV"),
                        ("xlsx", "export as XLSX")):
        best = min(run["seconds"] for run in runs[name])
        peak = max(run["peak_mb"] for run in runs[name])
        print(f"| {label} | {best:.2f} | {rows / best:,.0f} | {peak:.0f} | {100 * best / base:.0f} % |")


if __name__ == "__main__":
    main()
