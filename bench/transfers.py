"""Benchmark: importing a bank statement that pays N bank-transfer payments, against a baseline measured in
the same run.

Setup (not timed): ``indiepay serve`` (SQLite, worker on) in its own process, one merchant with a sandbox
bank-transfer account and ``2 × --lines`` pending bank-transfer payments created through the API.

Measured:

* **import**: ``POST /v1/bank_transfers/statements`` of a GBK CSV of ``--lines`` credits, each naming one
  payment's reference code with its exact amount, plus as many debits (skipped) — parse, look up the
  account's payments by code, then per credit one transaction: the line recorded, the payment moved to
  ``succeeded`` (its event and outbox job), the audit record at the end;
* **baseline**: the unavoidable part on the same database file, with Python's ``sqlite3``: per credit one
  transaction inserting its line and conditionally updating its payment (the other half of the payments).

Reported: seconds, credits per second, and the import's rate as % of the baseline's.

    python bench/transfers.py [--lines 2000]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from payments import serve_platform  # noqa: E402 -- the payments bench's helper, beside this file

ADMIN = "sk_admin_bench_transfers"


def pending_payments(client: httpx.Client, n: int) -> list[dict[str, str]]:
    payments = []
    for i in range(n):
        created = client.post("/v1/payments", json={
            "amount": 10_000 + i, "currency": "CNY", "out_trade_no": f"T{secrets.token_hex(8)}",
            "description": "Tea wholesale", "method": "bank_transfer", "expires_in_seconds": 7 * 24 * 3600})
        if created.status_code != 201:
            raise RuntimeError(f"setup payment refused: {created.status_code} {created.text[:300]}")
        body = created.json()
        payments.append({"id": body["id"], "reference": body["action"]["reference"], "amount": str(body["amount"])})
    return payments


def statement(payments: list[dict[str, str]]) -> bytes:
    rows = ["交易时间,交易流水号,金额,对方户名,附言"]
    for n, payment in enumerate(payments):
        yuan = f"{int(payment['amount']) / 100:.2f}"
        rows.append(f"2026-11-27 10:{n % 60:02d}:00,BENCH{n:08d},{yuan},买家{n},货款 {payment['reference']}")
        rows.append(f"2026-11-27 11:{n % 60:02d}:00,DEBIT{n:08d},-1.00,供应商,手续费")
    return ("\r\n".join(rows) + "\r\n").encode("gbk")


def baseline(db_path: Path, account_id: str, merchant_id: str, payments: list[dict[str, str]]) -> float:
    """One transaction per credit: insert the line, update the payment if still pending."""
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    started = time.perf_counter()
    for n, payment in enumerate(payments):
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO bank_statement_lines (id, merchant_id, livemode, channel_account_id, bank_txn_id, "
                     "booked_at, amount, currency, payer_name, memo, source, status, reason, payment_id, "
                     "created_at, updated_at) VALUES (?, ?, 0, ?, ?, ?, ?, 'CNY', ?, ?, 'statement', 'matched', "
                     "NULL, ?, ?, ?)", (f"bsl_bench{n}", merchant_id, account_id, f"BASE{n:08d}", now,
                                       int(payment["amount"]), f"买家{n}", payment["reference"], payment["id"], now,
                                       now))
        conn.execute("UPDATE payments SET status = 'succeeded', paid_at = ?, channel_trade_no = ?, updated_at = ? "
                     "WHERE id = ? AND status = 'pending'", (now, f"BASE{n:08d}", now, payment["id"]))
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-transfers-") as tmp, \
            serve_platform(Path(tmp), ADMIN) as (base, db_path):
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=600)
        merchant = admin.post("/v1/merchants", json={"name": "Tea Ltd.", "short_name": "Tea",
                                                     "subject_type": "enterprise"}).json()
        client = httpx.Client(base_url=base, timeout=600,
                              headers={"Authorization": f"Bearer {merchant['api_keys']['test']}"})
        account = client.post("/v1/channel_accounts", json={"channel": "bank_transfer", "sandbox": True}).json()
        started = time.perf_counter()
        payments = pending_payments(client, 2 * args.lines)
        print(f"# transfers bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
              f"{args.lines} credits (+ {args.lines} debits) in one statement "
              f"(setup {time.perf_counter() - started:.0f} s, not timed)")
        body = statement(payments[:args.lines])
        started = time.perf_counter()
        imported = client.post("/v1/bank_transfers/statements", params={"account_id": account["id"]},
                               content=body, headers={"Content-Type": "text/csv"})
        import_span = time.perf_counter() - started
        report = imported.json()
        if imported.status_code != 201 or report["matched"] != args.lines:
            raise RuntimeError(f"import: {imported.status_code} {imported.text[:300]}")
        base_span = baseline(db_path, account["id"], merchant["id"], payments[args.lines:])
    print("| run | seconds | credits/s | % of baseline |")
    print("|---|---|---|---|")
    print(f"| baseline: a line insert + a payment update per transaction (sqlite3) | {base_span:.2f} | "
          f"{args.lines / base_span:,.0f} | 100 % |")
    print(f"| `POST /v1/bank_transfers/statements` ({args.lines} matched) | {import_span:.2f} | "
          f"{args.lines / import_span:,.0f} | {100 * base_span / import_span:.0f} % |")


if __name__ == "__main__":
    main()
