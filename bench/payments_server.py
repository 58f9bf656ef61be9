"""The server process of ``bench/payments.py``: the platform (configured from ``INDIEPAY_*``) with a
timing middleware, the prepay call timed, and the bare baseline endpoints under ``/bare``."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response
from sqlalchemy import Column, Integer, MetaData, String, Table, insert, select, update
from starlette.concurrency import run_in_threadpool

from indiepay.app import create_app
from indiepay.channels.base import ChannelAdapter, ChannelMethod, IncomingNotification, PrepayRequest
from indiepay.channels.registry import build_adapter
from indiepay.cli.main import settle_heap
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.db.migrate import upgrade
from indiepay.runtime import Runtime

bare_metadata = MetaData()
bare_orders = Table("bench_bare_orders", bare_metadata, Column("out_trade_no", String(40), primary_key=True),
                    Column("amount", Integer, nullable=False), Column("status", String(16), nullable=False),
                    Column("code_url", String(300)))


def bare_app(runtime: Runtime, timings: dict[str, list[float]]) -> FastAPI:
    """The least work any platform must do per payment, on the same database and gateway."""
    app = FastAPI()
    settings = runtime.settings
    db = runtime.ctx.db
    bare_metadata.create_all(db.engine)
    state: dict[str, ChannelAdapter] = {}

    @app.post("/setup")
    def setup() -> dict[str, str]:
        response = httpx.post(f"{settings.sandbox_base_url}/wechatpay/_provision", json={}, timeout=60)
        state["adapter"] = build_adapter("wechatpay", response.json()["credentials"],
                                         f"{settings.sandbox_base_url}/wechatpay", runtime.http, SystemClock())
        return {"status": "ok"}

    @app.post("/create")
    def create(body: dict[str, Any]) -> dict[str, Any]:
        request = PrepayRequest(method=ChannelMethod.WECHAT_NATIVE, out_trade_no=body["out_trade_no"],
                                amount=body["amount"], currency="CNY", description="bench",
                                notify_url=f"{settings.base_url}/bare/notify",
                                expires_at=datetime.now(UTC) + timedelta(hours=1))
        started = time.perf_counter()
        result = state["adapter"].prepay(request)
        timings["bare_prepay"].append(time.perf_counter() - started)
        with db.transaction() as session:
            session.execute(insert(bare_orders).values(out_trade_no=body["out_trade_no"], amount=body["amount"],
                                                       status="pending", code_url=result.code_url))
        return {"code_url": result.code_url}

    @app.post("/notify")
    async def notify(request: Request) -> Response:
        incoming = IncomingNotification(headers={k.lower(): v for k, v in request.headers.items()},
                                        body=await request.body())

        def apply() -> None:
            seen = state["adapter"].parse_notification(incoming).payment
            assert seen is not None
            with db.transaction() as session:
                session.execute(update(bare_orders).where(bare_orders.c.out_trade_no == seen.out_trade_no,
                                                          bare_orders.c.status == "pending")
                                .values(status="succeeded"))

        await run_in_threadpool(apply)
        return Response(status_code=204)

    @app.get("/status/{out_trade_no}")
    def status(out_trade_no: str) -> dict[str, Any]:
        with db.read() as session:
            row = session.execute(select(bare_orders.c.status)
                                  .where(bare_orders.c.out_trade_no == out_trade_no)).first()
        return {"status": row[0] if row else None}

    return app


def main() -> None:
    settings = Settings()
    upgrade(settings.database_url)
    runtime = Runtime.build(settings)
    app = create_app(settings, runtime=runtime)
    timings: dict[str, list[float]] = {"create": [], "notify": [], "prepay": [], "bare_create": [],
                                       "bare_notify": [], "bare_prepay": []}
    app.mount("/bare", bare_app(runtime, timings))

    recorded = asyncio.Event()  # set (on the event loop) whenever a callback's time is recorded

    async def timed_app(scope: Any, receive: Any, send: Any) -> None:
        """A plain ASGI wrapper (BaseHTTPMiddleware would add its own cost to what it measures)."""
        started = time.perf_counter()
        await app(scope, receive, send)
        if scope["type"] == "http":
            path = scope["path"]
            if scope["method"] == "POST" and path == "/v1/payments":
                timings["create"].append(time.perf_counter() - started)
            elif path.startswith("/notify/"):
                timings["notify"].append(time.perf_counter() - started)
                recorded.set()
            elif path == "/bare/create":
                timings["bare_create"].append(time.perf_counter() - started)
            elif path == "/bare/notify":
                timings["bare_notify"].append(time.perf_counter() - started)
                recorded.set()

    # async, so reading them takes no thread of the pool the measured requests run on
    @app.get("/bench/timings")
    async def get_timings() -> dict[str, list[float]]:
        return timings

    @app.get("/bench/timings/callback")
    async def wait_for_callback(timeout: float = 30.0) -> dict[str, list[float]]:
        """Answer once a callback's time is recorded: one waiting request instead of a client polling the
        server while the callback it waits for is being measured."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(recorded.wait(), timeout)
        return timings

    @app.post("/bench/timings/reset")
    async def reset_timings() -> dict[str, str]:
        for values in timings.values():
            values.clear()
        recorded.clear()
        return {"status": "ok"}

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
    # the baseline and the bench's own routes first: added last, each of their requests would first be
    # tried against every route of the platform (a profile showed it: 10 % of the server's busy time),
    # a cost the platform's own hot routes — matched first — do not pay
    ours = [route for route in app.router.routes if getattr(route, "path", "").startswith(("/bare", "/bench/"))]
    app.router.routes[:] = ours + [route for route in app.router.routes if route not in ours]
    settle_heap()  # as `indiepay serve` does
    uvicorn.run(timed_app, host=settings.host, port=settings.port, log_level="warning")


if __name__ == "__main__":
    main()
