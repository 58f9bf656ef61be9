"""The daily reconciliation schedule and its job, kept in the job table (no second scheduler).

Each business day ``D`` has one daily ``reconciliation.run_day`` job due at ``D+1 10:00`` Beijing time,
after the channels publish their bills (WeChat Pay from about 09:00, Alipay and UnionPay earlier). It first
queues ``D+1``'s daily job — so the chain renews itself and a failing day never stops the next — and then one
``reconciliation.run_day`` job per active account of a channel that publishes a daily bill (WeChat Pay,
Alipay, UnionPay — whose file covers its clearing day ``D``, 23:00 the evening before to 23:00; a bank
account's statement is imported instead), with ``account_id`` in its arguments.
An account's job reconciles its stored bill, or fetches it: a bill the channel has not published yet
retries in 30 minutes (:class:`~indiepay.channels.base.BillNotReady`), a download that fails its hash — or
whose compression is corrupt (:class:`~.errors.BillArchiveError`: a cut gzip or zip, bytes after the gzip stream
the channel client hashed) — is alerted (``bill_hash_mismatch``) and retried later too, since a second download
is usually good; a bill still not published a day after its run time is alerted once (``bill_overdue``) and
still awaited, and WeChat Pay's
"no bill" still given twelve hours after it means a day without trades, reconciled against an empty bill
(:data:`EMPTY_DAY_AFTER`). Before
fetching a WeChat Pay account's trade bill, the job fetches the day's fund-flow bill the same way (same
retries, same alert with ``details.bill`` = ``fundflow``), so that the run checks it against the trade bill
(:mod:`.fundflow_service`); a day whose trade bill was stored by hand takes its fund-flow bill by hand too.
Afterwards the account's days still holding ``cross_day`` differences are re-run, which turns them into
``missing_in_channel`` once the grace window has passed. Each run queues its fee write-back as a
``reconciliation.fees`` job (:data:`FEES_JOB`, :mod:`.fees`) rather than doing it inside the account's job,
so the bill's fees reach the payments in short batches that other writers can interleave with.
"""

from __future__ import annotations

import io
import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import BillHashMismatch, BillNotReady
from indiepay.channels.registry import channel_spec
from indiepay.context import ServiceContext
from indiepay.core.clock import BUSINESS_TZ, Clock, business_day
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.queue import enqueue
from indiepay.db.jobs.worker import RetryLater
from indiepay.reconciliation import fees, fundflow_service, repository, service
from indiepay.reconciliation.errors import BillArchiveError
from indiepay.reconciliation.writers.wechat import render_wechat_trade_bill

log = logging.getLogger(__name__)
RUN_DAY_JOB = "reconciliation.run_day"
FEES_JOB = fees.FEES_JOB
RUN_HOUR = 10  # Beijing time, the day after
RETRY_NOT_READY = timedelta(minutes=30)
# WeChat Pay answers NO_STATEMENT_EXIST both for a bill not generated yet and for a day without a single trade;
# still so this long after the run time (22:00 Beijing the day after), the day had no trades: it is
# reconciled against an empty bill, so that a payment recorded here on such a day is found missing in the
# channel instead of never being looked at
EMPTY_DAY_AFTER = timedelta(hours=12)
OVERDUE_AFTER = timedelta(hours=24)  # a bill still not published a day after its run time: alerted
TRADE = "trade"
_DAY_KEY = "reconciliation.day:"
_ACCOUNT_KEY = "reconciliation.account:"


def run_at(day: date) -> datetime:
    """When ``day`` is reconciled: 10:00 Beijing time the following day, as aware UTC."""
    return datetime.combine(day + timedelta(days=1), time(RUN_HOUR), tzinfo=BUSINESS_TZ).astimezone(UTC)


def schedule_day(session: Session, clock: Clock, day: date) -> None:
    """Queue the daily job of ``day`` at its run time (once: the job's key is the date)."""
    enqueue(session, RUN_DAY_JOB, {"date": day.isoformat()}, now=clock.now(), run_at=run_at(day),
            unique_key=f"{_DAY_KEY}{day.isoformat()}")


def seed_schedule(db: Database, clock: Clock) -> date | None:
    """Start the daily chain unless a daily job is queued or running: queue yesterday (reconciling a day
    twice changes nothing). Safe to call from every worker at once: the day's key folds a second seeding into
    the first (``enqueue``). Returns the day queued, or ``None``."""
    with db.transaction() as session:
        waiting = session.scalars(select(Job.id).where(
            Job.kind == RUN_DAY_JOB, Job.status.in_(("queued", "running")),
            Job.unique_key.like(f"{_DAY_KEY}%")).limit(1)).first()
        if waiting is not None:
            return None
        day = business_day(clock.now()) - timedelta(days=1)
        schedule_day(session, clock, day)
        return day


def run_day_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job: the daily fan-out (no ``account_id``) or one account's day (see the module docstring)."""
    day = date.fromisoformat(str(args["date"]))
    account_id = args.get("account_id")
    now = ctx.clock.now()
    if account_id is None:
        if now < run_at(day):
            return RetryLater(at=run_at(day), reason="the bills are not published yet")
        with ctx.db.transaction() as session:
            schedule_day(session, ctx.clock, day + timedelta(days=1))
            for account in repository.active_accounts(session):
                if channel_spec(account.channel).publishes_daily_bill:
                    enqueue(session, RUN_DAY_JOB, {"date": day.isoformat(), "account_id": account.id}, now=now,
                            unique_key=f"{_ACCOUNT_KEY}{day.isoformat()}:{account.id}")
        return None
    return _run_account(ctx, str(account_id), day)


def _fetch_failed(ctx: ServiceContext, account: ChannelAccount, day: date, kind: str,
                  exc: Exception) -> RetryLater | None:
    """The retry (and, for a bad digest, the alert) of a bill download that failed; None for other errors."""
    if isinstance(exc, BillNotReady):
        if ctx.clock.now() >= run_at(day) + OVERDUE_AFTER:
            with ctx.db.transaction() as session:
                raise_alert(session, ctx.clock, kind="bill_overdue", severity="high", merchant_id=account.merchant_id,
                            dedupe_key=f"bill_overdue:{kind}:{account.id}:{day}",
                            message=(f"the {account.channel} {kind} bill of {day} for {account.id} is still not "
                                     f"published a day after it was due: the day is not reconciled yet"),
                            details={"account_id": account.id, "date": day.isoformat(), "bill": kind,
                                     "channel_code": exc.channel_code},
                            livemode=account.environment == "production")
        return RetryLater(at=ctx.clock.now() + RETRY_NOT_READY, reason=f"{kind} bill not ready: {exc}")
    if not isinstance(exc, BillHashMismatch):
        return None
    what, key = ("bill", f"bill_hash:{account.id}:{day}") if kind == TRADE else (
        f"{kind} bill", f"bill_hash:{kind}:{account.id}:{day}")
    with ctx.db.transaction() as session:
        raise_alert(session, ctx.clock, kind="bill_hash_mismatch", severity="critical",
                    merchant_id=account.merchant_id, dedupe_key=key,
                    message=f"the {account.channel} {what} of {day} for {account.id} failed its hash check",
                    details={"account_id": account.id, "date": day.isoformat(), "bill": kind, "error": str(exc)},
                    livemode=account.environment == "production")
    return RetryLater(at=ctx.clock.now() + RETRY_NOT_READY, reason=f"{kind} bill hash mismatch")


def _undecompressed(exc: BillArchiveError) -> BillHashMismatch:
    """A fetched bill whose compression is corrupt, as the download failure it is (see the module docstring)."""
    return BillHashMismatch(f"the downloaded bill does not decompress: {exc}", channel_code="BAD_ARCHIVE")


NO_TRADES_SOURCE = "no_trades"  # a stored bill made here: the channel said the day had none


def _no_trades(ctx: ServiceContext, day: date, exc: Exception) -> bool:
    """Whether the channel's "no bill" means, by now, a day without trades (see :data:`EMPTY_DAY_AFTER`)."""
    return (isinstance(exc, BillNotReady) and exc.may_mean_no_trades
            and ctx.clock.now() >= run_at(day) + EMPTY_DAY_AFTER)


def _run_account(ctx: ServiceContext, account_id: str, day: date) -> RetryLater | None:
    with ctx.db.read() as session:
        account = repository.account(session, account_id)
        stored = repository.bill(session, account_id, day) is not None
    if account is None:
        return None
    if stored:
        service.run_day(ctx, account_id, day, apply_fees=False)
    else:
        try:  # the fund-flow bill first (when the channel has one), so that the day's run checks it
            if fundflow_service.publishes_fundflow(account):
                fundflow_service.fetch_and_store(ctx, account, day)
        except (BillNotReady, BillHashMismatch) as exc:
            if not _no_trades(ctx, day, exc):  # a day without trades has no bookings either: run without it
                return _fetch_failed(ctx, account, day, fundflow_service.KIND, exc)
        except BillArchiveError as exc:  # read before anything is stored
            return _fetch_failed(ctx, account, day, fundflow_service.KIND, _undecompressed(exc))
        try:
            bill = service.fetch_bill_for(ctx, account, day)
        except (BillNotReady, BillHashMismatch) as exc:
            if not _no_trades(ctx, day, exc):
                return _fetch_failed(ctx, account, day, TRADE, exc)
            service.import_bill(ctx, account_id, io.BytesIO(render_wechat_trade_bill([])), day=day,
                                source=NO_TRADES_SOURCE, apply_fees=False)
        else:
            try:
                service.reconcile_fetched(ctx, account_id, bill, apply_fees=False)
            except BillArchiveError as exc:  # read before anything is stored (the neighbours' bills were read once)
                return _fetch_failed(ctx, account, day, TRADE, _undecompressed(exc))
    service.recheck_held(ctx, account_id, business_day(ctx.clock.now()),
                         exclude=frozenset({day - timedelta(days=1), day, day + timedelta(days=1)}), apply_fees=False)
    log.info("reconciled %s on %s", account_id, day)
    return None


def run_fees_job(ctx: ServiceContext, args: dict[str, Any]) -> RetryLater | None:
    """Job ``reconciliation.fees``: write a run's fee set (``run_id``) back, in batches, to the end."""
    fees.apply(ctx, str(args["run_id"]))
    return None
