"""The composition of one running platform: database, vault, HTTP client, adapters, worker.

Built once per process from :class:`~indiepay.config.Settings` and passed to the app, the worker and the
CLI. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.orm import Session

from indiepay.accounts import verification
from indiepay.accounts.adapters import AdapterCache
from indiepay.alerts import tasks as alert_tasks
from indiepay.alerts.models import Alert
from indiepay.alerts.service import DISPATCH_JOB as ALERT_DISPATCH_JOB
from indiepay.alerts.service import raise_alert
from indiepay.config import Settings
from indiepay.context import ServiceContext
from indiepay.core.clock import Clock, SystemClock
from indiepay.dashboard import tasks as dashboard_tasks
from indiepay.db.engine import Database
from indiepay.db.jobs.queue import DeadJob, OnDead
from indiepay.db.jobs.worker import Handler, RetryLater, Worker
from indiepay.housekeeping import tasks as housekeeping_tasks
from indiepay.keys import tasks as key_tasks
from indiepay.merchants.auth import ensure_admin_key
from indiepay.payments.service import EXPIRE_JOB
from indiepay.payments.state import VERIFICATION_JOB
from indiepay.payments.sync import QUERY_JOB, run_expire_job, run_query_job
from indiepay.reconciliation import tasks as reconciliation_tasks
from indiepay.refunds.manual import run_reminder_job
from indiepay.refunds.service import REMINDER_JOB, SYNC_JOB
from indiepay.refunds.sync import run_sync_job
from indiepay.risk import tasks as risk_tasks
from indiepay.settlements.payouts import (
    PAYOUT_JOB,
    PayoutProvider,
    SandboxPayoutProvider,
    UnconfiguredPayoutProvider,
    run_payout_job,
)
from indiepay.settlements.tasks import RUN_DAY_JOB, run_day_job, seed_schedule
from indiepay.sharing import returns as sharing_returns
from indiepay.sharing import service as sharing_service
from indiepay.sharing import sync as sharing_sync
from indiepay.vault.keyring import Vault
from indiepay.webhooks.deadline import DeadlineTransport
from indiepay.webhooks.service import DELIVERY_JOB, deliver
from indiepay.webhooks.service import gave_up as webhook_gave_up

log = logging.getLogger(__name__)
JOB_DEAD_ALERT = "job_dead"


def job_handlers(ctx: ServiceContext, payouts: PayoutProvider) -> dict[str, Handler]:
    """Every job kind the worker knows, bound to this platform's context and payout provider."""

    def bind(fn: Callable[[ServiceContext, dict[str, Any]], RetryLater | None]) -> Handler:
        return lambda args: fn(ctx, args)

    def deliver_event(args: dict[str, Any]) -> None:
        deliver(ctx, str(args["event_id"]), again=bool(args.get("again", False)),
                first_attempt=int(args.get("first_attempt", 1)))

    return {
        QUERY_JOB: bind(run_query_job),
        EXPIRE_JOB: bind(run_expire_job),
        SYNC_JOB: bind(run_sync_job),
        REMINDER_JOB: bind(run_reminder_job),
        DELIVERY_JOB: deliver_event,
        VERIFICATION_JOB: bind(verification.run_job),
        RUN_DAY_JOB: lambda args: run_day_job(ctx.db, ctx.clock, args),
        PAYOUT_JOB: lambda args: run_payout_job(ctx.db, ctx.clock, payouts, args),
        reconciliation_tasks.RUN_DAY_JOB: bind(reconciliation_tasks.run_day_job),
        reconciliation_tasks.FEES_JOB: bind(reconciliation_tasks.run_fees_job),
        key_tasks.CHECK_JOB: lambda args: key_tasks.run_check_job(ctx.db, ctx.clock, args),
        dashboard_tasks.PRUNE_JOB: lambda args: dashboard_tasks.run_prune_job(ctx.db, ctx.clock, args),
        housekeeping_tasks.PRUNE_JOB: lambda args: housekeeping_tasks.run_prune_job(ctx.db, ctx.clock, args),
        risk_tasks.DAY_VOLUMES_JOB: bind(risk_tasks.run_day_volumes_job),
        risk_tasks.REVIEW_ALERT_JOB: bind(risk_tasks.run_review_alert_job),
        ALERT_DISPATCH_JOB: bind(alert_tasks.run_dispatch_job),
        alert_tasks.SUMMARY_JOB: bind(alert_tasks.run_summary_job),
        sharing_service.SYNC_JOB: bind(sharing_sync.run_order_sync),
        sharing_returns.SYNC_JOB: bind(sharing_sync.run_return_sync),
    }


def job_dead_alerts(clock: Clock) -> OnDead:
    """The worker's ``on_dead``: a job that will not run again (its kind unknown, its arguments bad, its
    handler failing on every attempt, its worker killed on the last one) raises a ``job_dead`` operator alert,
    one per job, in the transaction that marks it dead — otherwise the work it stood for (a webhook, a refund's
    sync, a payout) is silently never done.

    Not for the dispatch job of a ``job_dead`` alert itself: when alert delivery is what is broken, alerting
    about it again would only add, every few hours, one more alert that cannot be delivered either."""

    def raise_job_dead(session: Session, job: DeadJob) -> None:
        if job.kind == DELIVERY_JOB:  # the merchant's endpoint missed an event: the merchant's alert, not the
            webhook_gave_up(session, clock, str(job.args.get("event_id")), job.last_error)  # operator's
            return
        if job.kind == ALERT_DISPATCH_JOB:
            alert = session.get(Alert, str(job.args.get("alert_id")))
            if alert is not None and alert.kind == JOB_DEAD_ALERT:
                log.error("the delivery of job_dead alert %s is dead too; not alerting again", alert.id)
                return
        raise_alert(session, clock, kind=JOB_DEAD_ALERT, severity="high", dedupe_key=f"{JOB_DEAD_ALERT}:{job.id}",
                    message=f"job {job.id} ({job.kind}) is dead after {job.attempts} of {job.max_attempts} "
                            f"attempts and will not run again: {job.last_error[:500]}",
                    details={"job_id": job.id, "kind": job.kind, "args": job.args, "attempts": job.attempts,
                             "max_attempts": job.max_attempts, "last_error": job.last_error})

    return raise_job_dead


def default_payout_provider(settings: Settings) -> PayoutProvider:
    """The sandbox provider where the sandbox gateways are mounted (development, demos, tests); otherwise
    none — payouts then wait, pending, until a real payout adapter is wired in (never marked paid)."""
    return SandboxPayoutProvider() if settings.mount_sandbox else UnconfiguredPayoutProvider()


@dataclass
class Runtime:
    settings: Settings
    ctx: ServiceContext
    worker: Worker
    http: httpx.Client
    payouts: PayoutProvider

    @classmethod
    def build(cls, settings: Settings, clock: Clock | None = None,
              payouts: PayoutProvider | None = None) -> Runtime:
        clock = clock or SystemClock()
        db = Database(settings.database_url, sqlite_synchronous=settings.sqlite_synchronous)
        vault = Vault.from_settings(settings.master_key, settings.resolved_master_key_file,
                                    settings.retired_master_keys)
        # the transport lets a delivery to a merchant's server end at its deadline (webhooks.deadline)
        http = httpx.Client(timeout=httpx.Timeout(settings.channel_timeout_seconds, connect=5.0),
                            transport=DeadlineTransport(limits=httpx.Limits(max_connections=100,
                                                                            max_keepalive_connections=50)))
        ctx = ServiceContext(settings=settings, db=db, clock=clock, vault=vault,
                             adapters=AdapterCache(vault, http, clock))
        payouts = payouts or default_payout_provider(settings)
        worker = Worker(db, clock, job_handlers(ctx, payouts), poll_seconds=settings.worker_poll_seconds,
                        on_dead=job_dead_alerts(clock))
        ctx.wake_worker = worker.wake
        return cls(settings=settings, ctx=ctx, worker=worker, http=http, payouts=payouts)

    def bootstrap_admin_key(self) -> str | None:
        """Generate the admin key on first start when none is configured; returns it to print once."""
        with self.ctx.db.transaction() as session:
            return ensure_admin_key(session, self.ctx.clock, self.settings.admin_key)

    def seed_jobs(self) -> None:
        """Queue the recurring jobs a worker needs (the daily settlement, reconciliation, key check, dashboard
        session pruning, housekeeping and risk day volumes); idempotent, safe from many workers."""
        seed_schedule(self.ctx.db, self.ctx.clock)
        reconciliation_tasks.seed_schedule(self.ctx.db, self.ctx.clock)
        key_tasks.CHAIN.seed(self.ctx.db, self.ctx.clock)
        dashboard_tasks.CHAIN.seed(self.ctx.db, self.ctx.clock)
        housekeeping_tasks.CHAIN.seed(self.ctx.db, self.ctx.clock)
        risk_tasks.CHAIN.seed(self.ctx.db, self.ctx.clock)

    def close(self) -> None:
        self.worker.stop()
        self.http.close()
        self.ctx.db.dispose()
