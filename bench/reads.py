"""Benchmark: the read endpoints a merchant's systems and its buyers poll, on a database with history,
against a baseline measured in the same run.

Setup (not timed): one merchant with ``--payments`` succeeded payments spread over 30 days, a refund for
every fifth and an event for each payment and refund (rows written straight into the database), then
``indiepay serve`` (SQLite, no worker) in its own process.

Measured from this process, one request at a time (latency as a client sees it, loopback HTTP included),
``--requests`` of each, rounds alternating so that machine noise hits all alike (best round of each):

* **baseline**: ``GET /v1/payments/{id}`` — the hottest read, one row by primary key, authenticated;
* the lists, first page of 20 and a page deep in the history (``starting_after`` a row half-way down):
  ``GET /v1/payments``, ``GET /v1/refunds``, ``GET /v1/events``, and the operator's ``GET /v1/merchants``;
* ``GET /v1/payments/{id}/receipt`` and the buyer's HTML receipt ``/pay/{id}/receipt``.

Each is reported as p50 / p99 ms and its p50 as % of the baseline's p50.

    python bench/reads.py [--payments 50000] [--requests 300] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert

from indiepay.cli.localserver import free_port
from indiepay.db.engine import Database
from indiepay.db.migrate import upgrade
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.webhooks.models import Event

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from payments import pct, wait_healthy  # noqa: E402 -- the payments bench's helpers, beside this file

NOW = datetime.now(UTC)
ADMIN = "sk_admin_bench_reads"


def fill(url: str, merchant_id: str, account_id: str, payments: int) -> tuple[list[str], list[str], list[str]]:
    """Write the history straight into the database; returns payment, refund and event ids, oldest first."""
    db = Database(url)
    payment_ids, refund_ids, event_ids = [], [], []
    batch = 5_000
    for start in range(0, payments, batch):
        pays: list[dict[str, Any]] = []
        refunds: list[dict[str, Any]] = []
        events: list[dict[str, Any]] = []
        for n in range(start, min(start + batch, payments)):
            at = NOW - timedelta(days=30) + timedelta(seconds=n * 30 * 86_400 // payments)
            pid = f"pay_{n:024x}"
            refunded = 1_000 if n % 5 == 0 else 0
            pays.append({"id": pid, "merchant_id": merchant_id, "livemode": False, "channel_account_id": account_id,
                         "channel": "alipay", "method": "alipay_qr", "amount": 10_000 + n % 90_000, "currency": "CNY",
                         "out_trade_no": f"R{n:020d}", "description": "Oolong", "status": "succeeded",
                         "collection_mode": "independent", "payer": {}, "action": None,
                         "channel_trade_no": f"2026{n:024d}", "expires_at": at + timedelta(hours=2), "paid_at": at,
                         "created_at": at, "updated_at": at, "refunded_amount": refunded,
                         "refund_reserved": refunded, "late_payment": False, "query_attempts": 0})
            events.append({"id": f"evt_{2 * n:024x}", "merchant_id": merchant_id, "livemode": False,
                           "type": "payment.succeeded", "dedupe_key": f"payment.succeeded:{pid}",
                           "data": {"object": {"id": pid}}, "delivered": True, "created_at": at})
            payment_ids.append(pid)
            event_ids.append(events[-1]["id"])
            if refunded:
                rid = f"re_{n:024x}"
                later = at + timedelta(minutes=5)
                refunds.append({"id": rid, "merchant_id": merchant_id, "livemode": False, "payment_id": pid,
                                "amount": refunded, "currency": "CNY", "status": "succeeded",
                                "out_refund_no": f"RF{n:020d}", "created_at": later, "updated_at": later,
                                "succeeded_at": later, "query_attempts": 0})
                events.append({"id": f"evt_{2 * n + 1:024x}", "merchant_id": merchant_id, "livemode": False,
                               "type": "refund.succeeded", "dedupe_key": f"refund.succeeded:{rid}",
                               "data": {"object": {"id": rid}}, "delivered": True, "created_at": later})
                refund_ids.append(rid)
                event_ids.append(events[-1]["id"])
        with db.transaction() as session:
            session.execute(insert(Payment), pays)
            if refunds:
                session.execute(insert(Refund), refunds)
            session.execute(insert(Event), events)
    db.dispose()
    return payment_ids, refund_ids, event_ids


def timed(client: httpx.Client, n: int, request: Callable[[httpx.Client, int], httpx.Response]) -> list[float]:
    spans = []
    for i in range(n):
        started = time.perf_counter()
        response = request(client, i)
        spans.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:200]}")
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=50_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        url, port = f"sqlite:///{Path(tmp) / 'indiepay.db'}", free_port()
        upgrade(url)
        env = {**os.environ, "INDIEPAY_DATABASE_URL": url, "INDIEPAY_VAR_DIR": tmp, "INDIEPAY_PORT": str(port),
               "INDIEPAY_ADMIN_KEY": ADMIN, "INDIEPAY_MASTER_KEY": secrets.token_urlsafe(32),
               "INDIEPAY_LOG_LEVEL": "warning", "INDIEPAY_RUN_WORKER": "false"}
        server = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "serve"], env=env,
                                  stdout=subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(f"{base}/health")
            admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
            for n in range(200):  # other merchants, for the operator's list
                admin.post("/v1/merchants", json={"name": f"Shop {n} Ltd.", "short_name": f"Shop {n}",
                                                  "subject_type": "enterprise"}).raise_for_status()
            merchant = admin.post("/v1/merchants", json={"name": "Tea Ltd.", "short_name": "Tea",
                                                         "subject_type": "enterprise"}).json()
            client = httpx.Client(base_url=base, timeout=60,
                                  headers={"Authorization": f"Bearer {merchant['api_keys']['test']}"})
            account = client.post("/v1/channel_accounts", json={"channel": "alipay", "sandbox": True}).json()
            started = time.perf_counter()
            pays, refunds, events = fill(url, merchant["id"], account["id"], args.payments)
            print(f"# reads bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite: "
                  f"{len(pays):,} payments, {len(refunds):,} refunds, {len(events):,} events, 201 merchants "
                  f"(written in {time.perf_counter() - started:.1f} s, not timed)")
            half = {"payments": pays[len(pays) // 2], "refunds": refunds[len(refunds) // 2],
                    "events": events[len(events) // 2]}
            checks: dict[str, Callable[[httpx.Client, int], httpx.Response]] = {
                "baseline: GET /v1/payments/{id}": lambda c, i: c.get(f"/v1/payments/{pays[-1 - i]}"),
                "GET /v1/payments (first page)": lambda c, i: c.get("/v1/payments"),
                "GET /v1/payments (deep page)": lambda c, i: c.get("/v1/payments",
                                                                   params={"starting_after": half["payments"]}),
                "GET /v1/refunds (first page)": lambda c, i: c.get("/v1/refunds"),
                "GET /v1/refunds (deep page)": lambda c, i: c.get("/v1/refunds",
                                                                  params={"starting_after": half["refunds"]}),
                "GET /v1/refunds?payment_id=": lambda c, i: c.get("/v1/refunds", params={"payment_id": pays[5 * i]}),
                "GET /v1/events (first page)": lambda c, i: c.get("/v1/events"),
                "GET /v1/events (deep page)": lambda c, i: c.get("/v1/events",
                                                                 params={"starting_after": half["events"]}),
                "GET /v1/merchants (admin, first page)": lambda c, i: admin.get("/v1/merchants"),
                "GET /v1/payments/{id}/receipt": lambda c, i: c.get(f"/v1/payments/{pays[5 * i]}/receipt"),
                "GET /pay/{id}/receipt (HTML)": lambda c, i: c.get(f"/pay/{pays[5 * i]}/receipt"),
            }
            results: dict[str, list[list[float]]] = {name: [] for name in checks}
            for _ in range(args.rounds):
                for name, request in checks.items():
                    results[name].append(timed(client, args.requests, request))
        finally:
            server.terminate()
            server.wait(timeout=30)
    best = {name: min(rounds, key=statistics.median) for name, rounds in results.items()}
    base_p50 = pct(best["baseline: GET /v1/payments/{id}"], 0.5)
    print(f"| request ({args.requests} one at a time, best of {args.rounds}) | p50 ms | p99 ms | p50 % of baseline |")
    print("|---|---|---|---|")
    for name, spans in best.items():
        print(f"| {name} | {pct(spans, 0.5) * 1000:.2f} | {pct(spans, 0.99) * 1000:.2f} | "
              f"{pct(spans, 0.5) / base_p50 * 100:.0f}% |")


if __name__ == "__main__":
    main()
