"""The fund-flow bill of a reconciled day: fetched, stored, read and checked against the trade bill.

WeChat Pay publishes, beside the trade bill, a fund-flow bill (资金账单) of the merchant's BASIC account.
The worker fetches it with the day's trade bill (:func:`fetch_and_store`: hash-checked by the channel
client exactly as the trade bill; not published yet → :class:`~indiepay.channels.base.BillNotReady`, a
bad digest → :class:`~indiepay.channels.base.BillHashMismatch`, for the job to retry and alert), and stores
it in ``reconciliation_bills`` with ``kind`` fundflow. A run of the day compares it with the trade bill's
totals (rules: :mod:`.fundflow`) and records the outcome as the run's ``fundflow`` field; a disagreement
raises one alert per account and day. A fund-flow bill imported after the day was run is checked against
the trade totals the run stored (:func:`import_fundflow`), without matching the trade bill again.

Only channels in :data:`FUNDFLOW_CHANNELS` publish such a bill; other channels' runs have ``fundflow`` None.
The fund-flow work is apart from the trade matching: it reads a bill of bookings (added up as it streams),
never the orders.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date
from typing import BinaryIO

from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.service import adapter_for
from indiepay.alerts.service import raise_alert
from indiepay.channels.base import BillKind
from indiepay.context import ServiceContext
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.core.ids import new_id
from indiepay.reconciliation import bills, repository
from indiepay.reconciliation import fundflow as ff
from indiepay.reconciliation import rules as r
from indiepay.reconciliation.models import ReconciliationBill, ReconciliationRun

FUNDFLOW_CHANNELS = frozenset({"wechatpay"})
"""Channels that publish a fund-flow bill next to the trade bill."""
KIND = str(BillKind.FUNDFLOW)
ALERT_KIND = "fundflow_disagreement"


def publishes_fundflow(account: ChannelAccount) -> bool:
    """Whether the account's channel has a fund-flow bill to fetch and check."""
    return account.channel in FUNDFLOW_CHANNELS


def fetch_and_store(ctx: ServiceContext, account: ChannelAccount, day: date) -> bool:
    """Download and store the account's fund-flow bill (BASIC account) of ``day`` unless it is stored.
    Network I/O happens outside any transaction. Returns True when a bill was fetched.

    Raises:
        BillNotReady: the channel has not published it yet (retry later).
        BillHashMismatch: the download is not the file the channel announced.
        ChannelError: any other failure of the call. BillError subclasses: the file is not a valid bill.
    """
    with ctx.db.read() as session:
        if repository.bill(session, account.id, day, KIND) is not None:
            return False
    fetched = adapter_for(ctx, account).fetch_bill(KIND, day)
    read = bills.read_fundflow_bill(io.BytesIO(fetched.content_gz or fetched.content))
    with ctx.db.transaction() as session:
        store(session, ctx, account, day, read, "fetch")
    return True


def store(session: Session, ctx: ServiceContext, account: ChannelAccount, day: date, read: bills.ReadFundFlow,
          source: str) -> ReconciliationBill:
    """Insert or replace the stored fund-flow bill of an account's day (a re-published bill replaces the old)."""
    now = ctx.clock.now()
    stored = repository.bill(session, account.id, day, KIND)
    if stored is None:
        stored = ReconciliationBill(id=new_id("bill"), account_id=account.id, business_date=day.isoformat(),
                                    channel=account.channel, kind=KIND, created_at=now)
        session.add(stored)
    stored.sha1, stored.size, stored.content_gz, stored.source = read.sha1, read.size, read.content_gz, source
    stored.tally = read.tally.as_record()
    stored.updated_at = now
    session.flush()
    return stored


def prepare(ctx: ServiceContext, account: ChannelAccount, day: date, trade: ff.Totals) -> ff.FundFlowCheck | None:
    """A run's fund-flow check, before its transaction: the stored fund-flow bill of the day (if any) compared
    with the trade bill's ``trade`` totals, by the sums stored with it (a bill stored before those were kept
    is read again); None for a channel without fund-flow bills.

    Raises:
        BillError subclasses: the stored fund-flow bill no longer reads (it was checked when stored).
    """
    if not publishes_fundflow(account):
        return None
    with ctx.db.read() as session:
        stored = repository.bill(session, account.id, day, KIND)
        if stored is None:
            return ff.check(trade, None, None)
        if stored.tally is not None:
            return ff.check(trade, ff.FlowTally.of_record(stored.tally), stored.sha1)
        content, sha1 = stored.content_gz, stored.sha1
    return ff.check(trade, bills.read_fundflow_bill(io.BytesIO(content)).tally, sha1)


def record(session: Session, ctx: ServiceContext, account: ChannelAccount, run: ReconciliationRun,
           check: ff.FundFlowCheck | None) -> None:
    """In the run's transaction: store the check as the run's ``fundflow`` and alert on a disagreement."""
    run.fundflow = check.as_dict() if check is not None else None
    if check is None or check.status != ff.DISAGREED:
        return
    items = ", ".join(d["item"] for d in check.disagreements)
    raise_alert(session, ctx.clock, kind=ALERT_KIND, severity="high", merchant_id=account.merchant_id,
                dedupe_key=f"fundflow:{account.id}:{run.business_date}",
                message=(f"the fund-flow bill of {account.id} on {run.business_date} disagrees with its trade "
                         f"bill: {items}"),
                details={"run_id": run.id, "disagreements": check.disagreements},
                livemode=account.environment == "production")


@dataclass(frozen=True)
class FundFlowImport:
    """What importing a fund-flow bill did: the day it covers and the run it was checked against (None when
    the day has no run yet, or a run from before fund-flow checks, which ``rerun`` asks to re-run)."""

    day: date
    run: ReconciliationRun | None
    rerun: bool


def import_fundflow(ctx: ServiceContext, account_id: str, stream: BinaryIO, *, day: date | None = None,
                    source: str = "import") -> FundFlowImport:
    """Store a fund-flow bill received by hand and check it against the day's run, if there is one.

    Args:
        stream: a seekable binary stream: a WeChat Pay fund-flow bill CSV (optionally gzip).
        day: the business day the bill covers; defaults to the day of its first booking.

    Raises:
        NotFound: no such account. InvalidRequest: the account's channel has no fund-flow bill
        (``bill_channel_mismatch``), no ``day`` and a bill without rows, or a ``day`` out of range
        (``invalid_date``, :func:`.rules.check_day`). BillError subclasses: the file is not a valid fund-flow bill.
    """
    day = r.check_day(day)
    with ctx.db.read() as session:
        account = repository.account(session, account_id)
    if account is None:
        raise NotFound(f"no channel account {account_id}", code="account_not_found")
    if not publishes_fundflow(account):
        raise InvalidRequest(f"a {account.channel} account has no fund-flow bill", code="bill_channel_mismatch")
    read = bills.read_fundflow_bill(stream)
    day = day or read.first_day
    if day is None:
        raise InvalidRequest("the bill has no rows: say which day it covers", code="bill_date_required")
    with ctx.db.transaction() as session:
        store(session, ctx, account, day, read, source)
        run = session.get(ReconciliationRun, r.run_id(account.id, day))
        if run is None or run.fundflow is None:
            return FundFlowImport(day, run, rerun=run is not None)
        record(session, ctx, account, run, ff.recheck(run.fundflow, read.tally, read.sha1))
        session.flush()
        return FundFlowImport(day, run, rerun=False)
