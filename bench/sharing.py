"""Benchmark: asking for a profit-sharing order, against a baseline measured in the same run.

Setup (not timed): ``indiepay serve`` (SQLite, the sandbox gateways mounted, the worker on) in its own
process; one merchant with a sandbox WeChat Pay and a sandbox Alipay account, one receiver declared on
each, and ``--requests`` paid payments per channel opened for profit sharing (created and paid through
the API and the sandbox buyer).

Measured from this process, one request at a time (latency as a client sees it, loopback HTTP included),
rounds alternating so that machine noise hits all alike:

* **baseline**: ``POST /v1/refunds`` of 1 fen on a paid payment — the same shape of work: the amount
  reserved on the payment row, the request committed with its number and sync job before the channel is
  called, one signed call to the channel, its answer applied;
* ``POST /v1/profit_sharing/orders`` with one receiver: WeChat Pay (one signed call, answered
  ``PROCESSING``) and Alipay (``order.settle`` and ``order.settle.query``: two calls, settled at once).

Each is reported as p50 / p99 ms and its p50 as % of the baseline's p50.

    python bench/sharing.py [--requests 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from payments import pct, serve_platform  # noqa: E402 -- the payments bench's helpers, beside this file

ADMIN = "sk_admin_bench_sharing"
METHODS = {"wechatpay": "wechat_native", "alipay": "alipay_qr"}
RECEIVERS = {"wechatpay": {"type": "wechat_merchant", "account": "1900012345", "name": "分销商有限公司"},
             "alipay": {"type": "alipay_user_id", "account": "2088000000000001"}}


def paid(client: httpx.Client, sandbox: str, channel: str, n: int) -> list[str]:
    """``n`` payments opened for sharing, paid by the sandbox buyer, waited for until succeeded."""
    ids = []
    for _ in range(n):
        created = client.post("/v1/payments", json={
            "amount": 10_000, "currency": "CNY", "out_trade_no": f"S{secrets.token_hex(8)}",
            "description": "Tea", "method": METHODS[channel], "profit_sharing": True})
        if created.status_code != 201:
            raise RuntimeError(f"setup payment refused: {created.status_code} {created.text[:300]}")
        payment = created.json()
        field = "code_url" if channel == "wechatpay" else "qr_code"
        httpx.post(f"{sandbox}/{channel}/_buyer/pay", json={field: payment["action"]["code_url"]},
                   timeout=30).raise_for_status()
        ids.append(payment["id"])
    deadline = time.monotonic() + 120
    for pid in ids:
        while client.get(f"/v1/payments/{pid}").json()["status"] != "succeeded":
            if time.monotonic() > deadline:
                raise RuntimeError(f"{pid} was not paid")
            time.sleep(0.02)
    return ids


def timed(n: int, request: Callable[[int], httpx.Response]) -> list[float]:
    spans = []
    for i in range(n):
        started = time.perf_counter()
        response = request(i)
        spans.append(time.perf_counter() - started)
        if response.status_code != 201 or response.json().get("status") == "failed":
            raise RuntimeError(f"{response.request.url}: {response.status_code} {response.text[:300]}")
    return spans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sharing-") as tmp, \
            serve_platform(Path(tmp), ADMIN, INDIEPAY_SANDBOX_TIME_FACTOR="1000") as (base, _):
        sandbox = f"{base}/sandbox"
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        merchant = admin.post("/v1/merchants", json={"name": "Tea Ltd.", "short_name": "Tea",
                                                     "subject_type": "enterprise"}).json()
        client = httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {merchant['api_keys']['test']}"})
        receivers: dict[str, str] = {}
        pools: dict[str, list[str]] = {}
        rounds_total = args.requests * args.rounds
        started = time.perf_counter()
        for channel in METHODS:
            account = client.post("/v1/channel_accounts", json={"channel": channel, "sandbox": True}).json()
            receiver = client.post("/v1/profit_sharing/receivers", json={
                "channel_account_id": account["id"], **RECEIVERS[channel]})
            receiver.raise_for_status()
            receivers[channel] = receiver.json()["id"]
            pools[channel] = paid(client, sandbox, channel, rounds_total)
        refund_pool = paid(client, sandbox, "wechatpay", rounds_total)
        print(f"# sharing bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
              f"{args.requests} requests × {args.rounds} rounds (setup {time.perf_counter() - started:.0f} s, "
              "not timed)")
        used: dict[str, int] = {"baseline": 0, "wechatpay": 0, "alipay": 0}

        def refund(i: int) -> httpx.Response:
            used["baseline"] += 1
            return client.post("/v1/refunds", json={"payment_id": refund_pool[used["baseline"] - 1], "amount": 1})

        def sharer(channel: str) -> Callable[[int], httpx.Response]:
            def one(i: int) -> httpx.Response:
                used[channel] += 1
                return client.post("/v1/profit_sharing/orders", json={
                    "payment_id": pools[channel][used[channel] - 1],
                    "receivers": [{"receiver_id": receivers[channel], "amount": 100}]})
            return one

        checks: dict[str, Callable[[int], httpx.Response]] = {
            "baseline: POST /v1/refunds (WeChat Pay, 1 fen)": refund,
            "POST /v1/profit_sharing/orders (WeChat Pay)": sharer("wechatpay"),
            "POST /v1/profit_sharing/orders (Alipay: settle + query)": sharer("alipay"),
        }
        results: dict[str, list[float]] = {name: [] for name in checks}
        for _ in range(args.rounds):
            for name, request in checks.items():
                results[name] += timed(args.requests, request)
    base_p50 = pct(results[next(iter(checks))], 0.5)
    print("| request | p50 ms | p99 ms | p50 % of baseline |")
    print("|---|---|---|---|")
    for name, spans in results.items():
        p50 = pct(spans, 0.5)
        print(f"| {name} | {p50 * 1000:.2f} | {pct(spans, 0.99) * 1000:.2f} | {100 * p50 / base_p50:.0f} % |")


if __name__ == "__main__":
    main()
