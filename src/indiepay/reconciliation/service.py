"""Reconciliation runs: store a day's bill, match it against our records, record what differs.

One run covers one channel account and one Asia/Shanghai business day. It opens the DuckDB matcher
(:mod:`.matcher`, rules in :mod:`.rules`) first, reads the bill into it, loads the account's local payments
and refunds of the day and its neighbours into it (as CSV, on a worker thread, while the bill is read),
lets it classify them, and then, in one transaction:
upserts the run and its differences by their deterministic ids (keeping a person's resolution; closing, as
the system, open ones the run no longer finds), records how the day's fund-flow bill (WeChat Pay) compares
with the trade bill (:mod:`.fundflow_service`), records the run's fee set and queues the
``reconciliation.fees`` job that writes the bill's fees back to the payments and corrects booked fees in the
ledger (:mod:`.fees`), and raises one alert per account and day when differences are open. The fee
write-back is not part of the run's transaction: on a big day it is a million row updates, which on SQLite
would hold every other writer back for seconds; the job writes them in short batches. One-shot callers (the
CLI, tests) let the run apply them before it returns (``apply_fees=True``, the default); the worker and the
API leave them to the job.

Days are re-run deterministically: the same bill, records, rules and clock give the same run and the same
difference ids. After a run, neighbouring days holding ``cross_day`` differences are re-run once, since
this day's bill may explain them. Network I/O (fetching a bill) happens outside any transaction.
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import BillFile, BillKind
from indiepay.channels.registry import channel_spec
from indiepay.context import ServiceContext
from indiepay.core.clock import business_day
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.core.ids import new_id
from indiepay.reconciliation import bills, fees, fundflow_service, repository
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.matcher import Figures, Found, Matcher
from indiepay.reconciliation.models import ReconciliationBill, ReconciliationDifference, ReconciliationRun

log = logging.getLogger(__name__)
Progress = Callable[[str], None]  # told the phase a run is in: parse, local, match, store
_TMP = "indiepay-recon-"


def _quiet(_phase: str) -> None:
    return None


@dataclass(frozen=True)
class RunResult:
    """A stored run and its differences (detached rows, safe to read after the transaction)."""

    run: ReconciliationRun
    differences: list[ReconciliationDifference]


def _account(ctx: ServiceContext, account_id: str) -> ChannelAccount:
    with ctx.db.read() as session:
        found = repository.account(session, account_id)
    if found is None:
        raise NotFound(f"no channel account {account_id}", code="account_not_found")
    return found


def fetch_bill_for(ctx: ServiceContext, account: ChannelAccount, day: date) -> BillFile:
    """Download the account's trade bill for ``day`` through its channel adapter (the worker's and the
    CLI's only way to the network here).

    Raises:
        BillNotReady: the channel has not published it yet (retry later).
        BillHashMismatch: the download is not the file the channel announced.
        ChannelError: any other failure of the call.
    """
    return adapter_for(ctx, account).fetch_bill(BillKind.TRADE, day)


def import_bill(ctx: ServiceContext, account_id: str, stream: BinaryIO, *, day: date | None = None,
                source: str = "import", progress: Progress = _quiet, apply_fees: bool = True) -> RunResult:
    """Store a bill received by hand (file or upload) and reconcile its day.

    Args:
        stream: a seekable binary stream: a WeChat Pay trade bill CSV (optionally gzip) or an Alipay zip.
        day: the business day the bill covers; defaults to the day of its first row.
        apply_fees: write the run's fees back (in the fee job's batches) before returning; False leaves
            them to the queued ``reconciliation.fees`` job.

    Raises:
        NotFound: no such account. InvalidRequest: no ``day`` and a bill without rows, a ``day`` out of range,
        or a bill of another channel than the account's. BillError subclasses: the file is not a valid bill.
    """
    day = r.check_day(day)
    account = _account(ctx, account_id)
    with tempfile.TemporaryDirectory(prefix=_TMP) as tmp, Matcher(Path(tmp)) as matcher, \
            _LocalExport(ctx, account, matcher, Path(tmp)) as local:
        workdir = Path(tmp)
        if day is not None:
            local.start(day)  # the database's part runs while DuckDB reads the bill
        progress("parse")
        with matcher.cursor() as into:  # DuckDB reads the bill straight into the matcher's database
            read = bills.read_bill(stream, workdir / "bill.csv", into=into)
        if read.channel != account.channel:
            raise InvalidRequest(f"a {read.channel} bill cannot be reconciled against a {account.channel} account",
                                 code="bill_channel_mismatch")
        bills.check_account(account, read)
        day = day or read.first_day
        if day is None:
            raise InvalidRequest("the bill has no rows: say which day it covers", code="bill_date_required")
        with ctx.db.transaction() as session:
            store_bill(session, ctx, account, day, read, source)
        stored = _reconcile(ctx, account, day, read, matcher, local, progress)
    return _finish(ctx, account_id, day, stored, recheck=True, apply_fees=apply_fees)


def store_bill(session: Session, ctx: ServiceContext, account: ChannelAccount, day: date, read: bills.ReadBill,
               source: str) -> ReconciliationBill:
    """Insert or replace the stored trade bill of an account's day (a re-published bill replaces the old)."""
    now = ctx.clock.now()
    stored = repository.bill(session, account.id, day)
    if stored is None:
        stored = ReconciliationBill(id=new_id("bill"), account_id=account.id, business_date=day.isoformat(),
                                    channel=read.channel, kind="trade", created_at=now)
        session.add(stored)
    stored.sha1, stored.size, stored.content_gz, stored.source = read.sha1, read.size, read.content_gz, source
    stored.updated_at = now
    session.flush()
    return stored


def run_day(ctx: ServiceContext, account_id: str, day: date, *, progress: Progress = _quiet,
            recheck: bool = True, apply_fees: bool = True) -> RunResult:
    """Reconcile an account's day against its stored bill (and re-run neighbours holding ``cross_day``);
    ``apply_fees`` as for :func:`import_bill`.

    Raises:
        NotFound: no such account, or no stored bill for that day (``bill_not_found``).
    """
    account = _account(ctx, account_id)
    with ctx.db.read() as session:
        stored = repository.bill(session, account_id, day)
    if stored is None:
        raise NotFound(f"no stored bill for {account_id} on {day}", code="bill_not_found")
    with tempfile.TemporaryDirectory(prefix=_TMP) as tmp, Matcher(Path(tmp)) as matcher, \
            _LocalExport(ctx, account, matcher, Path(tmp)) as local:
        local.start(day)
        progress("parse")
        with matcher.cursor() as into:
            read = bills.read_stored(stored.content_gz, Path(tmp) / "bill.csv", into=into)
        done = _reconcile(ctx, account, day, read, matcher, local, progress)
    return _finish(ctx, account_id, day, done, recheck=recheck, apply_fees=apply_fees)


def reconcile_fetched(ctx: ServiceContext, account_id: str, bill: BillFile, *, progress: Progress = _quiet,
                      source: str = "fetch", apply_fees: bool = True) -> RunResult:
    """Store a bill the channel handed over (:func:`fetch_bill_for`) and reconcile its day."""
    # the channel's own gzip when it sent one (checked against its hash on download): stored as it came
    return import_bill(ctx, account_id, io.BytesIO(bill.content_gz or bill.content), day=bill.bill_date, source=source,
                       progress=progress, apply_fees=apply_fees)


def window_of(channel: str, day: date, rules: r.RuleSet) -> repository.Window:
    """The bounds a day's local rows are placed by, on the channel's own clearing day."""
    return repository.Window(day, timedelta(seconds=rules.boundary_seconds),
                             starts_before=channel_spec(channel).clearing_day_starts_before)


class _LocalExport:
    """The local rows of a day's window, loaded into the matcher on a worker thread as the CSV of
    :func:`repository.export_local`.

    Not through a second SQLite library (the ADBC driver links its own copy): two copies of SQLite in one
    process undo each other's POSIX locks when either closes the file — the "locking protocol" errors a
    run met, and a documented way to corrupt a database.

    Started as soon as the day is known, so that the database's share of a run (seconds on a million
    orders, mostly inside SQLite and DuckDB with the GIL released) overlaps DuckDB reading the bill. It
    reads in its own session and loads through its own connection to the matcher's database; leaving the
    ``with`` waits for it, so a failed parse never leaves it writing into a removed directory or a closed
    matcher.
    """

    def __init__(self, ctx: ServiceContext, account: ChannelAccount, matcher: Matcher, workdir: Path,
                 rules: r.RuleSet = r.CURRENT) -> None:
        self._ctx, self._account_id, self._matcher, self._rules = ctx, account.id, matcher, rules
        self._channel = account.channel
        self._path = workdir / "local.csv"
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recon-local")
        self._day: date | None = None
        self._done: Future[None] | None = None

    def __enter__(self) -> _LocalExport:
        return self

    def __exit__(self, *exc: object) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def start(self, day: date) -> None:
        if self._done is None:
            self._day, self._done = day, self._pool.submit(self._load, day)

    def _load(self, day: date) -> None:
        window = window_of(self._channel, day, self._rules)
        with self._matcher.cursor() as into:
            with self._ctx.db.read() as session, self._path.open("w", encoding="utf-8", newline="") as out:
                repository.export_local(session, self._account_id, window, out)
            self._matcher.load_local(self._path, via=into)

    def wait(self, day: date) -> None:
        """Wait until ``day``'s rows are in the matcher (loaded now if that was not started); re-raises the
        export's error."""
        self.start(day)
        assert self._done is not None and self._day == day
        self._done.result()


@dataclass(frozen=True)
class _Stored:
    """A run as its transaction stored it, before its fees are applied."""

    run: ReconciliationRun
    differences: list[ReconciliationDifference]
    fee_count: int


def _reconcile(ctx: ServiceContext, account: ChannelAccount, day: date, read: bills.ReadBill, matcher: Matcher,
               local: _LocalExport, progress: Progress) -> _Stored:
    rules = matcher.rules
    window = window_of(account.channel, day, rules)
    workdir = read.normalised.parent
    matcher.load_bill(read.normalised, read.select)
    progress("local")
    local.wait(day)
    unexplained = matcher.unexplained_bill_keys()
    if unexplained:
        with ctx.db.read() as session:
            matcher.add_local(repository.lookup_local(session, account.id, window, unexplained))
    missing = _load_neighbours(ctx, account, day, matcher, workdir)
    progress("match")
    within_grace = business_day(ctx.clock.now()) <= day + timedelta(days=rules.grace_days)
    figures = matcher.classify(missing_neighbours=missing, within_grace=within_grace)
    found = matcher.differences()
    progress("store")
    fee_set = workdir / "fees.parquet"
    fee_count = matcher.write_fee_set(fee_set)
    fee_content = fee_set.read_bytes()
    summary = read.summary
    flow = fundflow_service.prepare(ctx, account, day, matcher.trade_totals(
        settled=summary.settlement_total_fen if summary else None,
        refunded=summary.refund_total_fen if summary else None))
    with ctx.db.transaction() as session:
        run = _save_run(session, ctx, account, day, read.sha1, figures, rules)
        fundflow_service.record(session, ctx, account, run, flow)
        differences = _save_differences(session, ctx, account, day, run, found)
        fees.record(session, ctx.clock, run, fee_content, fee_count)
        run.open_differences = sum(1 for d in differences if d.status == r.OPEN)
        run.status = "differences" if run.open_differences else "balanced"
        if run.open_differences:
            raise_alert(session, ctx.clock, kind="reconciliation_differences", severity="high",
                        merchant_id=account.merchant_id, dedupe_key=f"reconciliation:{account.id}:{day}",
                        message=(f"reconciliation of {account.id} on {day} found {run.open_differences} "
                                 f"open difference(s)"),
                        details={"run_id": run.id, "counts": dict(run.counts)},
                        livemode=account.environment == "production")
        session.flush()
    return _Stored(run, differences, fee_count)


def _finish(ctx: ServiceContext, account_id: str, day: date, stored: _Stored, *, recheck: bool,
            apply_fees: bool) -> RunResult:
    """After the matcher is closed (its memory given back): the fees, then the neighbours' re-runs."""
    run = stored.run
    if apply_fees and stored.fee_count:
        fees.apply(ctx, run.id)
        with ctx.db.read() as session:
            run = session.get(ReconciliationRun, run.id) or run  # with the corrections the job counted
    else:
        ctx.wake_worker()
    if recheck:
        _recheck_neighbours(ctx, account_id, day, apply_fees=apply_fees)
    return RunResult(run, stored.differences)


def _load_neighbours(ctx: ServiceContext, account: ChannelAccount, day: date, matcher: Matcher,
                     workdir: Path) -> list[int]:
    """Load the keys of the neighbouring days' stored bills when local rows need them; returns the sides
    (−1, +1) whose bill is not stored yet."""
    if not matcher.local_only_count():
        return []
    with ctx.db.read() as session:
        stored = {offset: repository.bill(session, account.id, day + timedelta(days=offset)) for offset in (-1, 1)}
    missing = []
    for offset, neighbour in stored.items():
        if neighbour is None:
            missing.append(offset)
            continue
        read = bills.read_stored(neighbour.content_gz, workdir / f"neighbour{offset:+d}.csv")
        matcher.load_neighbour(read.normalised, offset)
    return missing


def _recheck_neighbours(ctx: ServiceContext, account_id: str, day: date, *, apply_fees: bool) -> None:
    with ctx.db.read() as session:
        held = repository.days_with_open(session, account_id, r.CROSS_DAY, day - timedelta(days=1),
                                         day + timedelta(days=1))
    for other in held:
        if other != day:
            run_day(ctx, account_id, other, recheck=False, apply_fees=apply_fees)


def recheck_held(ctx: ServiceContext, account_id: str, today: date, rules: r.RuleSet = r.CURRENT, *,
                 exclude: frozenset[date] = frozenset(), apply_fees: bool = True) -> int:
    """Re-run the days of an account still holding ``cross_day`` differences (the daily job calls this, so
    a held difference becomes ``missing_in_channel`` once the grace window has passed). Returns the
    number of days re-run."""
    with ctx.db.read() as session:
        held = repository.days_with_open(session, account_id, r.CROSS_DAY,
                                         today - timedelta(days=rules.grace_days + 7), today)
    held = [day for day in held if day not in exclude]
    for day in held:
        run_day(ctx, account_id, day, recheck=False, apply_fees=apply_fees)
    return len(held)


def _save_run(session: Session, ctx: ServiceContext, account: ChannelAccount, day: date, sha1: str,
              figures: Figures, rules: r.RuleSet) -> ReconciliationRun:
    now = ctx.clock.now()
    run_id = r.run_id(account.id, day)
    run = session.get(ReconciliationRun, run_id)
    if run is None:
        run = ReconciliationRun(id=run_id, account_id=account.id, business_date=day.isoformat(), executions=0,
                                created_at=now)
        session.add(run)
    run.channel, run.bill_sha1, run.rule_version = account.channel, sha1, rules.version
    run.bill_rows, run.local_rows = figures.bill_rows, figures.local_rows
    run.matched_count, run.matched_amount = figures.matched_count, figures.matched_amount
    run.bill_amount, run.local_amount = figures.bill_amount, figures.local_amount
    run.bill_fee, run.booked_fee = figures.bill_fee, figures.booked_fee
    run.fee_corrections = 0  # counted by the fee job, batch by batch
    run.executions += 1
    run.updated_at = now
    run.open_differences, run.status, run.counts = 0, "balanced", {}
    session.flush()
    return run


_KEPT = ("resolution", r.CORRECTED, r.CORRECTIONS, r.REOPENED)
"""What a difference's details keep from one run to the next: what people did about it, not what a bill said."""


def _save_differences(session: Session, ctx: ServiceContext, account: ChannelAccount, day: date,
                      run: ReconciliationRun, found: list[Found]) -> list[ReconciliationDifference]:
    """Upsert what the run found; keep resolutions made by people; close (as the system) what is gone."""
    now = ctx.clock.now()
    existing = repository.differences_of_day(session, account.id, day)
    kept: list[ReconciliationDifference] = []
    counts: dict[str, int] = {}
    for item in found:
        diff_id = r.difference_id(account.id, day, item.klass, item.out_trade_no, item.out_refund_no)
        counts[item.klass] = counts.get(item.klass, 0) + 1
        row = existing.pop(diff_id, None)
        if row is None:
            row = ReconciliationDifference(id=diff_id, account_id=account.id, business_date=day.isoformat(),
                                           klass=item.klass, status=r.OPEN, created_at=now)
            session.add(row)
        elif row.status == r.RESOLVED and row.resolved_by == r.SYSTEM_ACTOR:
            row.status, row.resolved_by, row.resolved_at, row.note = r.OPEN, None, None, None
        elif row.status != r.OPEN and (row.local_amount, row.channel_amount) != (item.local_amount,
                                                                                 item.channel_amount):
            row.details = r.reopened_details(  # a person's decision about amounts the bill no longer says
                row.details or {}, status=row.status, resolved_by=row.resolved_by, note=row.note,
                resolved_at=row.resolved_at.isoformat() if row.resolved_at else None,
                local_amount=row.local_amount, channel_amount=row.channel_amount)
            row.status, row.resolved_by, row.resolved_at, row.note = r.OPEN, None, None, None
        row.run_id, row.kind, row.out_trade_no = run.id, item.kind, item.out_trade_no
        row.out_refund_no = item.out_refund_no or None
        row.payment_id, row.local_status = item.payment_id, item.local_status
        row.refund_id = item.object_id if item.kind == "refund" else None
        row.local_amount, row.channel_amount = item.local_amount, item.channel_amount
        row.details = {**item.details, **{key: value for key, value in (row.details or {}).items() if key in _KEPT}}
        row.updated_at = now
        kept.append(row)
    for gone in existing.values():
        if gone.status == r.OPEN:
            gone.status, gone.resolved_by, gone.resolved_at = r.RESOLVED, r.SYSTEM_ACTOR, now
            gone.note = f"no longer found by the run of {now:%Y-%m-%dT%H:%M:%SZ}"
            gone.updated_at = now
    run.counts = counts
    session.flush()
    return kept
