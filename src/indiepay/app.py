"""The composition root: ``create_app(settings)`` wires routers, error handlers, the in-process worker
and (unless disabled) the sandbox gateways under ``/sandbox``. No work happens at import time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from indiepay import __version__
from indiepay.accounts.api import platform_router as platform_accounts_router
from indiepay.accounts.api import router as accounts_router
from indiepay.advisor.api import router as advisor_router
from indiepay.alerts.api import router as alerts_router
from indiepay.audit.api import router as audit_router
from indiepay.config import Settings
from indiepay.core.clock import Clock
from indiepay.housekeeping.api import router as jobs_router
from indiepay.httpapi import errors, openapi
from indiepay.httpapi.body_limit import BodyLimit, BodyLimits
from indiepay.httpapi.nul_guard import NulGuard
from indiepay.ledger.api import router as ledger_router
from indiepay.merchants.api import api_keys_router
from indiepay.merchants.api import router as merchants_router
from indiepay.notify.api import router as notify_router
from indiepay.payments.api import router as payments_router
from indiepay.reconciliation.api import router as reconciliation_router
from indiepay.refunds.api import router as refunds_router
from indiepay.risk.api import router as kill_switch_router
from indiepay.risk.api import rules_router as risk_rules_router
from indiepay.runtime import Runtime
from indiepay.settlements.api import router as settlements_router
from indiepay.sharing.api import router as sharing_router
from indiepay.statements.api import exports_router
from indiepay.statements.api import router as statements_router
from indiepay.transfers import rules as transfer_rules
from indiepay.transfers.api import router as transfers_router
from indiepay.web.checkout import router as checkout_router
from indiepay.web.dashboard import router as dashboard_router
from indiepay.web.dashboard_accounts import router as dashboard_accounts_router
from indiepay.web.dashboard_books import router as dashboard_books_router
from indiepay.web.dashboard_collection import router as dashboard_collection_router
from indiepay.web.dashboard_jobs import router as dashboard_jobs_router
from indiepay.web.dashboard_keys import router as dashboard_keys_router
from indiepay.web.dashboard_operator import router as dashboard_operator_router
from indiepay.web.dashboard_overview import router as dashboard_overview_router
from indiepay.web.dashboard_pages import router as dashboard_pages_router
from indiepay.web.dashboard_platform import router as dashboard_platform_router
from indiepay.web.dashboard_refunds import router as dashboard_refunds_router
from indiepay.web.dashboard_risk import router as dashboard_risk_router
from indiepay.web.dashboard_sharing import router as dashboard_sharing_router
from indiepay.web.dashboard_transfers import router as dashboard_transfers_router
from indiepay.web.dashboard_webhooks import router as dashboard_webhooks_router
from indiepay.webhooks.api import router as webhooks_router


def create_app(settings: Settings, *, runtime: Runtime | None = None, clock: Clock | None = None) -> FastAPI:
    """Build the platform application. With ``runtime`` given, the caller owns its lifecycle."""
    rt = runtime or Runtime.build(settings, clock)
    owns_runtime = runtime is None

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.run_worker:
            rt.seed_jobs()
            rt.worker.start_in_thread()
        try:
            yield
        finally:
            if owns_runtime:
                rt.close()
            else:
                rt.worker.stop()

    app = FastAPI(title="IndiePay", version=__version__, lifespan=lifespan,
                  telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False})
    app.state.ctx = rt.ctx
    app.state.runtime = rt
    errors.install(app)
    openapi.install(app)
    app.add_middleware(NulGuard)  # a NUL anywhere in a request is a 400, never a database error
    app.add_middleware(BodyLimit, limits=body_limits(settings))  # outside the guard: it caps what the guard reads
    # every request tries the routers in this order until one matches (tens of µs a router here): the ones
    # on every payment's path come first — the channels' callbacks, payments, the buyer's checkout
    for router in (notify_router, payments_router, checkout_router, refunds_router, merchants_router,
                   accounts_router, webhooks_router, ledger_router, settlements_router):
        app.include_router(router)
    app.include_router(platform_accounts_router)
    app.include_router(kill_switch_router)
    app.include_router(risk_rules_router)
    app.include_router(statements_router)
    app.include_router(exports_router)
    app.include_router(advisor_router)
    app.include_router(reconciliation_router)
    app.include_router(api_keys_router)
    app.include_router(audit_router)
    app.include_router(alerts_router)
    app.include_router(jobs_router)
    app.include_router(sharing_router)
    app.include_router(transfers_router)
    # before the frame's router: its POST /dashboard/merchants/{id}/{action} (the merchant kill switch) would
    # otherwise take POST /dashboard/merchants/{id}/profile
    app.include_router(dashboard_operator_router)
    app.include_router(dashboard_risk_router)
    app.include_router(dashboard_platform_router)
    app.include_router(dashboard_jobs_router)
    app.include_router(dashboard_router)
    app.include_router(dashboard_overview_router)
    app.include_router(dashboard_pages_router)
    app.include_router(dashboard_refunds_router)
    app.include_router(dashboard_books_router)
    app.include_router(dashboard_webhooks_router)
    app.include_router(dashboard_collection_router)
    app.include_router(dashboard_accounts_router)
    app.include_router(dashboard_keys_router)
    app.include_router(dashboard_sharing_router)
    app.include_router(dashboard_transfers_router)

    @app.get("/health", tags=["ops"])
    def health() -> JSONResponse:
        with rt.ctx.db.read() as session:
            session.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok", "version": __version__})

    if settings.mount_sandbox:
        from indiepay.sandbox.app import create_sandbox_app

        state_dir = settings.sandbox_state_path or settings.var_dir
        app.mount("/sandbox", create_sandbox_app(state_dir=state_dir, time_factor=settings.sandbox_time_factor,
                                                 callbacks_to=f"{settings.base_url}/notify/"))
    return app


def body_limits(settings: Settings) -> BodyLimits:
    """The body cap of each route: the default for every JSON call, form and callback; the routes that take
    files their own (the bank statement API reads its body under the statement cap itself)."""
    form_overhead = 64 * 1024  # a multipart form's boundaries, headers and other fields around the file
    return BodyLimits(default=settings.max_body_bytes, by_path={
        "/v1/reconciliation/bills": settings.max_bill_upload_bytes,
        "/v1/bank_transfers/statements": None,
        "/dashboard/bank_transfers/statements": transfer_rules.MAX_BYTES + form_overhead,
        "/dashboard/risk/rules": max(settings.max_body_bytes, 4 * 1024 * 1024),  # 200,000 characters, form-encoded
    })
