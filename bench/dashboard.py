"""Benchmark: the dashboard's pages, against the JSON API reading the same data in the same run.

Setup (not timed): ``indiepay serve`` (SQLite, the sandbox gateways mounted, the worker on) in its own
process, one merchant with a WeChat Pay sandbox account and ``--payments`` payments (every other one
paid), and a dashboard session signed in with the merchant's test key.

Measured from this process, one request at a time, loopback HTTP included, rounds interleaving the four
requests so that machine noise hits all alike:

* ``overview``: ``GET /dashboard`` — the session resolved from its cookie (two indexed reads), today's
  figures, open alerts, the ten latest payments, the page rendered;
* ``payments``: ``GET /dashboard/payments`` — 50 payments rendered as a table;
* ``payment``: ``GET /dashboard/payments/{id}`` — one payment, its refunds and shares, the forms;
* ``collection``: ``GET /dashboard/collection`` — the advisor over the merchant's 30 and 90 days of
  payments, the readiness checklist, the switch's history;
* ``sharing``: ``GET /dashboard/sharing`` — receivers, the merchant's accounts, the latest sharing orders;
* ``refunds``: ``GET /dashboard/refunds`` — the latest 50 refunds; ``bank transfers``: the statement page;
* ``operator merchant``: ``GET /dashboard/merchants/{id}`` signed in as the operator — the merchant's facts,
  accounts of both modes, balances, settlements, history and live advice;
* ``operator audit``: ``GET /dashboard/audit`` — the latest 100 audit events (the chain check, on request
  only, is not timed).
* ``operator jobs``: ``GET /dashboard/jobs`` — the dead jobs, 50 a page (few or none in this run: mostly
  the frame and one indexed query).

**Baseline**: ``GET /v1/payments?limit=50`` with the same key — the same 50 payments as the API's JSON.
Each page is reported as p50 / p99 ms and its p50 as % of the baseline's.

    python bench/dashboard.py [--payments 300] [--requests 300]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from payments import pct, serve_platform  # noqa: E402 -- the payments bench's helpers, beside this file

ADMIN = "sk_admin_bench_dashboard"


def setup(base: str, payments: int) -> tuple[httpx.Client, httpx.Client, httpx.Client, str, str]:
    """A merchant with ``payments`` payments; returns (API client, the merchant's signed-in browser, the
    operator's, one payment id, the merchant's id)."""
    admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
    merchant = admin.post("/v1/merchants", json={"name": "Tea Ltd.", "short_name": "Tea",
                                                 "subject_type": "enterprise"}).json()
    key = merchant["api_keys"]["test"]
    api = httpx.Client(base_url=base, timeout=60, headers={"Authorization": f"Bearer {key}"})
    api.post("/v1/channel_accounts", json={"channel": "wechatpay", "sandbox": True}).raise_for_status()
    last = ""
    for n in range(payments):
        created = api.post("/v1/payments", json={"amount": 1000 + n, "currency": "CNY", "description": "Tea",
                                                 "out_trade_no": f"D{secrets.token_hex(8)}",
                                                 "method": "wechat_native"})
        created.raise_for_status()
        last = created.json()["id"]
        if n % 2 == 0:
            httpx.post(f"{base}/sandbox/wechatpay/_buyer/pay", timeout=30,
                       json={"code_url": created.json()["action"]["code_url"]}).raise_for_status()
    browser = httpx.Client(base_url=base, timeout=60)
    operator = httpx.Client(base_url=base, timeout=60)
    for client, signing_key in ((browser, key), (operator, ADMIN)):
        signed = client.post("/dashboard/login", data={"api_key": signing_key})
        if signed.status_code != 303:
            raise RuntimeError(f"sign-in refused: {signed.status_code}")
    return api, browser, operator, last, merchant["id"]


def timed(client: httpx.Client, path: str, expect: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    span = time.perf_counter() - started
    if response.status_code != 200 or not re.search(expect, response.text):
        raise RuntimeError(f"{path}: {response.status_code} {response.text[:200]}")
    return span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=300)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    spans: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dashboard-") as tmp, \
            serve_platform(Path(tmp), ADMIN, INDIEPAY_SANDBOX_TIME_FACTOR="1000") as (base, _):
        api, browser, operator, payment_id, merchant_id = setup(base, args.payments)
        requests = {"baseline": (api, "/v1/payments?limit=50", r'"has_more"'),
                    "overview": (browser, "/dashboard", r'id="paid-total"'),
                    "payments": (browser, "/dashboard/payments", r'id="payments"'),
                    "payment": (browser, f"/dashboard/payments/{payment_id}", r'id="refunds"'),
                    "collection": (browser, "/dashboard/collection", r'id="checklist"'),
                    "sharing": (browser, "/dashboard/sharing", r'id="receivers"'),
                    "refunds": (browser, "/dashboard/refunds", r'id="refunds"'),
                    "bank transfers": (browser, "/dashboard/bank_transfers", r'id="lines"'),
                    "operator merchant": (operator, f"/dashboard/merchants/{merchant_id}", r'id="profile-form"'),
                    "operator audit": (operator, "/dashboard/audit", r'id="events"'),
                    "operator jobs": (operator, "/dashboard/jobs", r'id="jobs"')}
        spans = {name: [] for name in requests}
        for client, path, expect in requests.values():  # warm: templates compiled, connections open
            timed(client, path, expect)
        print(f"# dashboard bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
              f"{args.payments} payments, {args.requests} requests of each, one at a time")
        for _ in range(args.requests):
            for name, (client, path, expect) in requests.items():
                spans[name].append(timed(client, path, expect))
    base_p50 = pct(spans["baseline"], 0.5)
    print("| request | p50 ms | p99 ms | p50 % of the baseline |")
    print("|---|---|---|---|")
    for name, values in spans.items():
        label = "GET /v1/payments?limit=50 (baseline)" if name == "baseline" else name
        print(f"| {label} | {pct(values, 0.5) * 1000:.2f} | {pct(values, 0.99) * 1000:.2f} | "
              f"{100 * pct(values, 0.5) / base_p50:.0f} % |")


if __name__ == "__main__":
    main()
