"""Benchmark: end-to-end payments (create → sandbox buyer pays → signed callback → ``succeeded``).

Measured on SQLite and, when ``INDIEPAY_TEST_POSTGRES_URL`` (or ``--postgres URL``) is set, PostgreSQL,
against a **baseline measured in the same run on the same server**: a bare endpoint doing only the
unavoidable work — one RSA-signed prepay call to the same sandbox gateway over loopback (sign, call,
verify the signed response), one insert — and a bare callback endpoint (verify, decrypt, one update).
Rounds alternate baseline / platform so machine noise hits both alike.

Also measured, sequentially: the platform's own time per payment excluding the gateway — server time of
the create request minus the prepay call, plus server time of the callback request — as p50 / p99.

    python bench/payments.py [--payments 200] [--concurrency 8] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update

from indiepay.app import create_app
from indiepay.channels.base import ChannelMethod, IncomingNotification, PrepayRequest
from indiepay.channels.registry import build_adapter
from indiepay.cli.localserver import free_port, serve_in_thread
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.db.migrate import upgrade
from indiepay.runtime import Runtime

bare_metadata = MetaData()
bare_orders = Table("bench_bare_orders", bare_metadata, Column("out_trade_no", String(40), primary_key=True),
                    Column("amount", Integer, nullable=False), Column("status", String(16), nullable=False),
                    Column("code_url", String(300)))


def build_baseline(runtime: Runtime, base_url: str) -> tuple[FastAPI, Callable[[], None]]:
    """The bare endpoints: the least work any platform must do per payment."""
    app = FastAPI()
    state: dict[str, Any] = {}
    engine = runtime.ctx.db.engine
    bare_metadata.create_all(engine)

    def setup() -> None:
        creds = httpx.post(f"{base_url}/sandbox/wechatpay/_provision", json={}, timeout=60).json()["credentials"]
        state["adapter"] = build_adapter("wechatpay", creds, f"{base_url}/sandbox/wechatpay", runtime.http,
                                         SystemClock())

    @app.post("/create")
    def create(body: dict[str, Any]) -> dict[str, Any]:
        request = PrepayRequest(method=ChannelMethod.WECHAT_NATIVE, out_trade_no=body["out_trade_no"],
                                amount=body["amount"], currency="CNY", description="bench",
                                notify_url=f"{base_url}/bare/notify",
                                expires_at=datetime.now(UTC) + timedelta(hours=1))
        result = state["adapter"].prepay(request)
        with engine.begin() as conn:
            conn.execute(insert(bare_orders).values(out_trade_no=body["out_trade_no"], amount=body["amount"],
                                                    status="pending", code_url=result.code_url))
        return {"code_url": result.code_url}

    @app.post("/notify")
    async def notify(request: Request) -> Response:
        body = await request.body()
        incoming = IncomingNotification(headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        from starlette.concurrency import run_in_threadpool

        def apply() -> None:
            seen = state["adapter"].parse_notification(incoming).payment
            with engine.begin() as conn:
                conn.execute(update(bare_orders).where(bare_orders.c.out_trade_no == seen.out_trade_no,
                                                       bare_orders.c.status == "pending").values(status="succeeded"))

        await run_in_threadpool(apply)
        return Response(status_code=204)

    @app.get("/status/{out_trade_no}")
    def status(out_trade_no: str) -> dict[str, Any]:
        with engine.connect() as conn:
            row = conn.execute(select(bare_orders.c.status).where(bare_orders.c.out_trade_no == out_trade_no)).first()
        return {"status": row[0] if row else None}

    return app, setup


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
        time.sleep(0.002)
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


@contextmanager
def platform(url: str, workdir: Path) -> Iterator[tuple[str, Runtime, FastAPI, Callable[[], None]]]:
    port = free_port()
    settings = Settings(database_url=url, var_dir=workdir, port=port, admin_key="sk_admin_bench",
                        master_key=secrets.token_urlsafe(32), sandbox_time_factor=1000.0, worker_poll_seconds=0.2,
                        log_level="warning")
    upgrade(url)
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime=runtime)
    base_url = f"http://127.0.0.1:{port}"
    bare, setup = build_baseline(runtime, base_url)
    app.mount("/bare", bare)
    timings: dict[str, list[float]] = {"create": [], "notify": [], "prepay": []}
    app.state.bench_timings = timings

    @app.middleware("http")
    async def timing(request: Request, call_next: Any) -> Any:
        started = time.perf_counter()
        response = await call_next(request)
        path = request.url.path
        if request.method == "POST" and path == "/v1/payments":
            timings["create"].append(time.perf_counter() - started)
        elif path.startswith("/notify/"):
            timings["notify"].append(time.perf_counter() - started)
        return response

    original_get = runtime.ctx.adapters.get

    def timed_get(**kwargs: Any) -> Any:
        adapter = original_get(**kwargs)

        class Timed:
            def __getattr__(self, name: str) -> Any:
                return getattr(adapter, name)

            def prepay(self, request: PrepayRequest) -> Any:
                started = time.perf_counter()
                try:
                    return adapter.prepay(request)
                finally:
                    timings["prepay"].append(time.perf_counter() - started)

        return Timed()

    runtime.ctx.adapters.get = timed_get  # type: ignore[method-assign]
    with serve_in_thread(app, port=port):
        yield base_url, runtime, app, setup
    runtime.close()


def bench_database(label: str, url: str, n: int, concurrency: int, rounds: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, platform(url, Path(tmp)) as (base_url, _runtime, app, setup):
        setup()
        admin = httpx.Client(base_url=base_url, headers={"Authorization": "Bearer sk_admin_bench"}, timeout=60)
        merchant = admin.post("/v1/merchants", json={"name": "Bench", "short_name": "Bench",
                                                     "subject_type": "enterprise"}).json()
        headers = {"Authorization": f"Bearer {merchant['api_keys']['test']}"}
        httpx.post(f"{base_url}/v1/channel_accounts", headers=headers, json={"channel": "wechatpay", "sandbox": True},
                   timeout=60).raise_for_status()
        run_id = secrets.token_hex(3)

        def baseline_one(client: httpx.Client, i: int) -> None:
            no = f"B{run_id}{i:07d}{secrets.token_hex(2)}"
            code = client.post(f"{base_url}/bare/create", json={"out_trade_no": no, "amount": 100}).json()["code_url"]
            client.post(f"{base_url}/sandbox/wechatpay/_buyer/pay", json={"code_url": code}).raise_for_status()
            wait_status(client, f"{base_url}/bare/status/{no}", "succeeded")

        def platform_one(client: httpx.Client, i: int) -> None:
            body = {"amount": 100, "currency": "CNY", "out_trade_no": f"P{run_id}{i:07d}{secrets.token_hex(2)}",
                    "description": "bench", "method": "wechat_native"}
            created = client.post(f"{base_url}/v1/payments", json=body, headers=headers)
            created.raise_for_status()
            payment = created.json()
            client.post(f"{base_url}/sandbox/wechatpay/_buyer/pay",
                        json={"code_url": payment["action"]["code_url"]}).raise_for_status()
            wait_status(client, f"{base_url}/v1/payments/{payment['id']}", "succeeded", headers)

        # warm-up both paths
        run_round("warm", 10, 2, baseline_one)
        run_round("warm", 10, 2, platform_one)
        base_results, plat_results = [], []
        for _ in range(rounds):
            base_results.append(run_round("baseline", n, concurrency, baseline_one))
            plat_results.append(run_round("platform", n, concurrency, platform_one))

        # platform overhead per payment, sequential so server timings pair up with one payment each
        timings: dict[str, list[float]] = app.state.bench_timings
        overheads = []
        with httpx.Client(timeout=60) as client:
            for i in range(min(n, 200)):
                for values in timings.values():
                    values.clear()
                platform_one(client, 10_000_000 + i)
                time.sleep(0.001)
                if timings["create"] and timings["prepay"] and timings["notify"]:
                    overheads.append(timings["create"][0] - timings["prepay"][0] + timings["notify"][0])
        admin.close()
    base_tp = statistics.median(r.throughput for r in base_results)
    plat_tp = statistics.median(r.throughput for r in plat_results)
    base_lat = [x for r in base_results for x in r.latencies]
    plat_lat = [x for r in plat_results for x in r.latencies]
    return {
        "database": label, "payments_per_round": n, "concurrency": concurrency, "rounds": rounds,
        "baseline_per_s": base_tp, "platform_per_s": plat_tp, "ratio": plat_tp / base_tp,
        "baseline_p50_ms": pct(base_lat, 0.5) * 1000, "baseline_p99_ms": pct(base_lat, 0.99) * 1000,
        "platform_p50_ms": pct(plat_lat, 0.5) * 1000, "platform_p99_ms": pct(plat_lat, 0.99) * 1000,
        "overhead_p50_ms": pct(overheads, 0.5) * 1000 if overheads else float("nan"),
        "overhead_p99_ms": pct(overheads, 0.99) * 1000 if overheads else float("nan"),
        "overhead_samples": len(overheads),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--payments", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", default=os.environ.get("INDIEPAY_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        results.append(bench_database("sqlite", f"sqlite:///{tmp}/bench.db", args.payments, args.concurrency,
                                      args.rounds))
    if args.postgres:
        import psycopg

        name = f"indiepay_bench_{secrets.token_hex(4)}"
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            results.append(bench_database("postgresql", f"{args.postgres.rpartition('/')[0]}/{name}", args.payments,
                                          args.concurrency, args.rounds))
        finally:
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    print(f"# payments bench {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores")
    print("| database | baseline /s | platform /s | platform % of baseline | baseline p50/p99 ms | "
          "platform p50/p99 ms | platform overhead p50/p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['database']} | {r['baseline_per_s']:.1f} | {r['platform_per_s']:.1f} | {r['ratio'] * 100:.0f}% | "
              f"{r['baseline_p50_ms']:.1f} / {r['baseline_p99_ms']:.1f} | {r['platform_p50_ms']:.1f} / "
              f"{r['platform_p99_ms']:.1f} | {r['overhead_p50_ms']:.2f} / {r['overhead_p99_ms']:.2f} "
              f"(n={r['overhead_samples']}) |")


if __name__ == "__main__":
    main()
