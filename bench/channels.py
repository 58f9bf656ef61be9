"""Benchmark: a payment and a refund on each channel, against WeChat Pay measured in the same run.

Setup (not timed): ``indiepay serve`` (SQLite, the sandbox gateways mounted, the worker on) in its own
process, one merchant with a sandbox account on every channel.

Measured from this process, one payment at a time (latency as a client sees it, loopback HTTP included),
rounds alternating the channels so that machine noise hits all alike:

* ``create``: ``POST /v1/payments`` of a QR method — the platform's insert and jobs, one signed call to the
  gateway (WeChat Pay native, Alipay precreate, UnionPay 申码) and its verified answer;
* ``paid``: from the create to ``succeeded`` seen by polling ``GET /v1/payments/{id}`` every 2 ms, the
  sandbox buyer paying in between — the gateway's notify verified (for UnionPay: its certificate chained
  to the installed root, then its signature) and applied;
* ``refund``: ``POST /v1/refunds`` of 1 fen on a paid payment.

**Baseline**: the same three on WeChat Pay (the issue-2 payment path). Each channel is reported as p50 /
p99 ms and its p50 as % of the baseline's.

    python bench/channels.py [--payments 100] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
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

ADMIN = "sk_admin_bench_channels"
METHODS = {"wechatpay": "wechat_native", "alipay": "alipay_qr", "unionpay": "unionpay_qr"}
BUYER_FIELD = {"wechatpay": "code_url", "alipay": "qr_code", "unionpay": "qr_code"}
PARTS = ("create", "paid", "refund")


def one_payment(client: httpx.Client, sandbox: str, channel: str) -> dict[str, float]:
    """Create, pay and refund one payment; the three spans in seconds."""
    started = time.perf_counter()
    created = client.post("/v1/payments", json={
        "amount": 1000, "currency": "CNY", "out_trade_no": f"B{secrets.token_hex(8)}", "description": "Tea",
        "method": METHODS[channel]})
    create_span = time.perf_counter() - started
    if created.status_code != 201:
        raise RuntimeError(f"{channel}: create refused {created.status_code} {created.text[:300]}")
    payment = created.json()
    httpx.post(f"{sandbox}/{channel}/_buyer/pay", json={BUYER_FIELD[channel]: payment["action"]["code_url"]},
               timeout=30).raise_for_status()
    deadline = time.monotonic() + 30
    while client.get(f"/v1/payments/{payment['id']}").json()["status"] != "succeeded":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{channel}: {payment['id']} was not paid")
        time.sleep(0.002)
    paid_span = time.perf_counter() - started
    started = time.perf_counter()
    refund = client.post("/v1/refunds", json={"payment_id": payment["id"], "amount": 1})
    refund_span = time.perf_counter() - started
    if refund.status_code != 201 or refund.json()["status"] == "failed":
        raise RuntimeError(f"{channel}: refund {refund.status_code} {refund.text[:300]}")
    return {"create": create_span, "paid": paid_span, "refund": refund_span}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--payments", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    results: dict[str, dict[str, list[float]]] = {c: {p: [] for p in PARTS} for c in METHODS}
    with tempfile.TemporaryDirectory(prefix="bench-channels-") as tmp, \
            serve_platform(Path(tmp), ADMIN, INDIEPAY_SANDBOX_TIME_FACTOR="1000") as (base, _):
        admin = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {ADMIN}"}, timeout=60)
        merchant = admin.post("/v1/merchants", json={"name": "Tea Ltd.", "short_name": "Tea",
                                                     "subject_type": "enterprise"}).json()
        client = httpx.Client(base_url=base, timeout=60,
                              headers={"Authorization": f"Bearer {merchant['api_keys']['test']}"})
        for channel in METHODS:
            client.post("/v1/channel_accounts", json={"channel": channel, "sandbox": True}).raise_for_status()
            one_payment(client, f"{base}/sandbox", channel)  # warm: first key loads, first connections
        print(f"# channels bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, SQLite, "
              f"{args.payments} payments × {args.rounds} rounds per channel, one at a time")
        for _ in range(args.rounds):
            for channel in METHODS:
                for _ in range(args.payments):
                    for part, span in one_payment(client, f"{base}/sandbox", channel).items():
                        results[channel][part].append(span)
    print("| channel | create p50 / p99 ms | paid p50 / p99 ms | refund p50 / p99 ms | p50 % of WeChat Pay "
          "(create · paid · refund) |")
    print("|---|---|---|---|---|")
    baseline = {part: pct(results["wechatpay"][part], 0.5) for part in PARTS}
    for channel, parts in results.items():
        cells = [f"{pct(parts[p], 0.5) * 1000:.2f} / {pct(parts[p], 0.99) * 1000:.2f}" for p in PARTS]
        shares = " · ".join(f"{100 * pct(parts[p], 0.5) / baseline[p]:.0f} %" for p in PARTS)
        label = f"{channel} (baseline)" if channel == "wechatpay" else channel
        print(f"| {label} | {' | '.join(cells)} | {shares} |")


if __name__ == "__main__":
    main()
