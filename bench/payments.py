"""Benchmark: end-to-end payments (create → sandbox buyer pays → signed callback → ``succeeded``).

The payments are live-mode payments (so each is also posted to the ledger), on a production account whose
gateway is pointed at the sandbox (see :func:`live_account_on_sandbox`).

Three processes, as in production: the sandbox gateway (``indiepay sandbox``), the platform server, and
this load generator — so the numbers are not one process's threads fighting over one GIL. The server
process also hosts the **baseline measured in the same run**: bare endpoints doing only the unavoidable
work — one RSA-signed prepay call to the same gateway over loopback (sign, call, verify the signed
response) and one insert; a bare callback endpoint that verifies, decrypts and does one update. Rounds
alternate baseline / platform so machine noise hits both alike.

Also measured, sequentially: the platform's own time per payment excluding the gateway — server time
of the create request minus its prepay call, plus server time of the callback request — as p50 / p99.

    python bench/payments.py [--payments 200] [--concurrency 8] [--rounds 2] [--sequential 300] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, text

from indiepay.cli.localserver import free_port
from indiepay.db.engine import normalise_url

HERE = Path(__file__).resolve().parent
POLL_SECONDS = 0.05
SEQUENTIAL_BLOCK = 50


@dataclass
class RoundResult:
    label: str
    completed: int
    seconds: float
    latencies: list[float]

    @property
    def throughput(self) -> float:
        return self.completed / self.seconds


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def wait_status(client: httpx.Client, url: str, wanted: str, headers: dict[str, str] | None = None,
                timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get(url, headers=headers).json().get("status") == wanted:
            return
        time.sleep(POLL_SECONDS)
    raise TimeoutError(url)


def run_round(label: str, n: int, concurrency: int, one: Callable[[httpx.Client, int], None]) -> RoundResult:
    latencies: list[float] = []
    lock = threading.Lock()
    local = threading.local()

    def task(i: int) -> None:
        if not hasattr(local, "client"):
            local.client = httpx.Client(timeout=60)
        started = time.perf_counter()
        one(local.client, i)
        with lock:
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(task, range(n)))
    return RoundResult(label, n, time.perf_counter() - started, latencies)


def wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(url)


@contextmanager
def serve_platform(workdir: Path, admin_key: str, **extra_env: str) -> Iterator[tuple[str, Path]]:
    """``indiepay serve`` as shipped (sandbox gateways mounted, worker on) on a fresh, migrated SQLite
    database in ``workdir``, in a process of its own; yields (base URL, database file) and stops it after.
    ``extra_env`` adds or overrides ``INDIEPAY_*`` settings."""
    port, db_path = free_port(), workdir / "indiepay.db"
    env = {**os.environ, "INDIEPAY_DATABASE_URL": f"sqlite:///{db_path}", "INDIEPAY_VAR_DIR": str(workdir),
           "INDIEPAY_PORT": str(port), "INDIEPAY_ADMIN_KEY": admin_key,
           "INDIEPAY_MASTER_KEY": secrets.token_urlsafe(32), "INDIEPAY_LOG_LEVEL": "warning", **extra_env}
    subprocess.run([sys.executable, "-m", "indiepay.cli.main", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    server = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "serve"], env=env,
                              stdout=subprocess.DEVNULL)
    try:
        wait_healthy(f"http://127.0.0.1:{port}/health")
        yield f"http://127.0.0.1:{port}", db_path
    finally:
        server.terminate()
        server.wait(timeout=30)


@contextmanager
def processes(db_url: str, workdir: Path) -> Iterator[tuple[str, str]]:
    """Start the sandbox gateway and the bench server; yield (platform URL, sandbox URL)."""
    sandbox_port, server_port = free_port(), free_port()
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = {**os.environ, "INDIEPAY_DATABASE_URL": db_url, "INDIEPAY_VAR_DIR": str(workdir),
           "INDIEPAY_PORT": str(server_port), "INDIEPAY_ADMIN_KEY": "sk_admin_bench",
           "INDIEPAY_MASTER_KEY": secrets.token_urlsafe(32), "INDIEPAY_MOUNT_SANDBOX": "false",
           "INDIEPAY_SANDBOX_URL": sandbox_url, "INDIEPAY_LOG_LEVEL": "warning",
           "INDIEPAY_WORKER_POLL_SECONDS": "0.5"}
    sandbox = subprocess.Popen([sys.executable, "-m", "indiepay.cli.main", "sandbox", "--port", str(sandbox_port),
                                "--time-factor", "1000"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    server_script = os.environ.get("BENCH_SERVER", str(HERE / "payments_server.py"))
    server = subprocess.Popen([sys.executable, server_script], env=env, stdout=subprocess.DEVNULL, stderr=sys.stderr)
    try:
        wait_healthy(f"{sandbox_url}/health")
        wait_healthy(f"http://127.0.0.1:{server_port}/health")
        yield f"http://127.0.0.1:{server_port}", sandbox_url
    finally:
        for proc in (server, sandbox):
            proc.terminate()
        for proc in (server, sandbox):
            proc.wait(timeout=30)


def sequential_overheads(base_url: str, sandbox_url: str, headers: dict[str, str], run_id: str, start: int, n: int,
                         platform: bool) -> list[tuple[float, float]]:
    """One payment at a time: (server time of create minus its prepay call, server time of the callback).
    Waits for the callback with one request to the bench's own endpoint, which answers when the callback's
    time is recorded: nothing the bench asks runs on the server while the measured requests do."""
    prefix = "" if platform else "bare_"
    overheads = []
    with httpx.Client(timeout=60) as client:
        for i in range(start, start + n):
            client.post(f"{base_url}/bench/timings/reset")
            no = f"{'S' if platform else 'Q'}{run_id}{i:07d}"
            if platform:
                body = {"amount": 100, "currency": "CNY", "out_trade_no": no, "description": "bench",
                        "method": "wechat_native"}
                code = client.post(f"{base_url}/v1/payments", json=body, headers=headers).json()["action"]["code_url"]
            else:
                bare = client.post(f"{base_url}/bare/create", json={"out_trade_no": no, "amount": 100})
                code = bare.json()["code_url"]
            client.post(f"{sandbox_url}/wechatpay/_buyer/pay", json={"code_url": code})
            # one request that the server answers when the callback's time is in — not a poll every 50 ms
            # competing with the very request being measured
            timings = client.get(f"{base_url}/bench/timings/callback", params={"timeout": 30}).json()
            create, prepay, notify = (timings[f"{prefix}{k}"] for k in ("create", "prepay", "notify"))
            if len(create) == len(prepay) == len(notify) == 1:
                overheads.append((create[0] - prepay[0], notify[0]))
            time.sleep(0.05)  # let the worker deliver the event before the next payment starts
    return overheads


def live_account_on_sandbox(client: httpx.Client, headers: dict[str, str], db_url: str, sandbox_url: str) -> None:
    """Live payments are what the platform exists for (they are also posted to the ledger), but a production
    account cannot reach WeChat Pay here: create one with sandbox-provisioned credentials and point its
    gateway at the sandbox with a direct database edit (only a benchmark or test may do that)."""
    credentials = httpx.post(f"{sandbox_url}/wechatpay/_provision", json={}, timeout=60).json()["credentials"]
    created = client.post("/v1/channel_accounts", headers=headers, json={
        "channel": "wechatpay", "environment": "production", "credentials": credentials})
    created.raise_for_status()
    engine = create_engine(normalise_url(db_url))
    with engine.begin() as conn:
        conn.execute(text("UPDATE channel_accounts SET base_url = :url WHERE id = :id"),
                     {"url": f"{sandbox_url}/wechatpay", "id": created.json()["id"]})
    engine.dispose()


def bench_database(label: str, db_url: str, n: int, concurrency: int, rounds: int,
                   sequential: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, processes(db_url, Path(tmp)) as (base_url, sandbox_url):
        httpx.post(f"{base_url}/bare/setup", timeout=60).raise_for_status()
        admin = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk_admin_bench"}, timeout=60)
        merchant = admin.post("/v1/merchants", json={"name": "Bench", "short_name": "Bench",
                                                     "subject_type": "enterprise"}).json()
        headers = {"Authorization": f"Bearer {merchant['api_keys']['live']}"}
        live_account_on_sandbox(admin, headers, db_url, sandbox_url)
        run_id = secrets.token_hex(3)

        def baseline_one(client: httpx.Client, i: int) -> None:
            no = f"B{run_id}{i:07d}{secrets.token_hex(2)}"
            code = client.post(f"{base_url}/bare/create", json={"out_trade_no": no, "amount": 100}).json()["code_url"]
            client.post(f"{sandbox_url}/wechatpay/_buyer/pay", json={"code_url": code}).raise_for_status()
            wait_status(client, f"{base_url}/bare/status/{no}", "succeeded")

        def platform_one(client: httpx.Client, i: int) -> None:
            body = {"amount": 100, "currency": "CNY", "out_trade_no": f"P{run_id}{i:07d}{secrets.token_hex(2)}",
                    "description": "bench", "method": "wechat_native"}
            created = client.post(f"{base_url}/v1/payments", json=body, headers=headers)
            if created.is_error:
                raise RuntimeError(f"{created.status_code} {created.text}")
            payment = created.json()
            client.post(f"{sandbox_url}/wechatpay/_buyer/pay",
                        json={"code_url": payment["action"]["code_url"]}).raise_for_status()
            wait_status(client, f"{base_url}/v1/payments/{payment['id']}", "succeeded", headers)

        run_round("warm", 20, 2, baseline_one)
        run_round("warm", 20, 2, platform_one)
        base_results, plat_results = [], []
        for _ in range(rounds):
            base_results.append(run_round("baseline", n, concurrency, baseline_one))
            plat_results.append(run_round("platform", n, concurrency, platform_one))

        parts: list[tuple[float, float]] = []
        bare_parts: list[tuple[float, float]] = []
        for start in range(0, sequential, SEQUENTIAL_BLOCK):  # alternating blocks: drift hits both sides alike
            size = min(SEQUENTIAL_BLOCK, sequential - start)
            parts += sequential_overheads(base_url, sandbox_url, headers, run_id, start, size, platform=True)
            bare_parts += sequential_overheads(base_url, sandbox_url, headers, run_id, start, size, platform=False)
        admin.close()
    base_tp = statistics.median(r.throughput for r in base_results)
    plat_tp = statistics.median(r.throughput for r in plat_results)
    overheads, bare_overheads = [a + b for a, b in parts], [a + b for a, b in bare_parts]
    base_lat = [x for r in base_results for x in r.latencies]
    plat_lat = [x for r in plat_results for x in r.latencies]
    return {
        "database": label, "baseline_per_s": base_tp, "platform_per_s": plat_tp, "ratio": plat_tp / base_tp,
        "baseline_p50_ms": pct(base_lat, 0.5) * 1000, "baseline_p99_ms": pct(base_lat, 0.99) * 1000,
        "platform_p50_ms": pct(plat_lat, 0.5) * 1000, "platform_p99_ms": pct(plat_lat, 0.99) * 1000,
        "overhead_p50_ms": pct(overheads, 0.5) * 1000 if overheads else float("nan"),
        "overhead_p99_ms": pct(overheads, 0.99) * 1000 if overheads else float("nan"),
        "overhead_samples": len(overheads),
        "bare_overhead_p50_ms": pct(bare_overheads, 0.5) * 1000 if bare_overheads else float("nan"),
        "bare_overhead_p99_ms": pct(bare_overheads, 0.99) * 1000 if bare_overheads else float("nan"),
        "parts": {label: (pct(values, 0.5) * 1000, pct(values, 0.99) * 1000) for label, values in (
            ("create less prepay", [a for a, _ in parts]), ("callback", [b for _, b in parts]),
            ("bare create less prepay", [a for a, _ in bare_parts]), ("bare callback", [b for _, b in bare_parts]))
            if values},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--sequential", type=int, default=300,
                        help="payments measured one at a time for the overhead (each side)")
    parser.add_argument("--postgres", default=os.environ.get("INDIEPAY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench_database("sqlite", f"sqlite:///{tmp}/bench.db", args.payments, args.concurrency,
                                      args.rounds, args.sequential))
    if args.postgres:
        import psycopg

        name = f"indiepay_bench_{secrets.token_hex(4)}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            results.append(bench_database("postgresql", f"{args.postgres.rpartition('/')[0]}/{name}", args.payments,
                                          args.concurrency, args.rounds, args.sequential))
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"# payments bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
          f"{args.payments} payments x {args.rounds} rounds, concurrency {args.concurrency}")
    print("| database | baseline /s | platform /s | platform % of baseline | baseline p50/p99 ms | "
          "platform p50/p99 ms | platform overhead p50/p99 ms | bare baseline overhead p50/p99 ms |")
    print("|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['database']} | {r['baseline_per_s']:.1f} | {r['platform_per_s']:.1f} | {r['ratio'] * 100:.0f}% | "
              f"{r['baseline_p50_ms']:.1f} / {r['baseline_p99_ms']:.1f} | {r['platform_p50_ms']:.1f} / "
              f"{r['platform_p99_ms']:.1f} | {r['overhead_p50_ms']:.2f} / {r['overhead_p99_ms']:.2f} "
              f"(n={r['overhead_samples']}) | {r['bare_overhead_p50_ms']:.2f} / {r['bare_overhead_p99_ms']:.2f} |")
    print()
    print("| database | overhead part | p50 ms | p99 ms |")
    print("|---|---|---|---|")
    for r in results:
        for label, (p50, p99) in r["parts"].items():
            print(f"| {r['database']} | {label} | {p50:.2f} | {p99:.2f} |")


if __name__ == "__main__":
    main()
