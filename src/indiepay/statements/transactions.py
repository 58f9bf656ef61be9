"""The transactions export: every payment and refund whose money moved in a span of Beijing days, one row
each, for the merchant's accountant (交易明细) — what the monthly statement sums, line by line.

A payment is listed on the day it was paid, a refund on the day it succeeded; pending, closed and failed
ones moved no money and are not listed. Each row carries its fees with their sign from the merchant's point
of view: a payment's channel fee and platform fee are taken off (−), a refund gives back its share of them
(+, the ledger's cumulative proportional rule, :func:`indiepay.ledger.fees.refund_fee`). A fee is the
channel's own figure once its bill has been reconciled (``bill``), until then the one booked at the rates
fixed when the payment was made (``booked``).

The rows are read in pages by keyset (time, id) from two partial indexes (migration 0027) and merged in
time order, so an export of a year of a busy shop streams in constant memory: nothing holds more than one
page of each kind.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import aliased

from indiepay.core.clock import BUSINESS_TZ, EARLIEST_STORABLE, business_day_start
from indiepay.core.errors import InvalidRequest
from indiepay.db.engine import Database
from indiepay.ledger import fees
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund

MAX_DAYS = 366
PAGE = 5_000
HEADER = ("时间 Time (Beijing)", "类型 Type", "IndiePay ID", "商户订单号 Order no.", "商户退款单号 Refund no.",
          "渠道 Channel", "支付方式 Method", "收款模式 Collection", "渠道单号 Channel no.", "金额 Amount (yuan)",
          "渠道手续费 Channel fee (yuan)", "平台服务费 Platform fee (yuan)", "净额 Net (yuan)",
          "手续费来源 Fee source", "说明 Description")


@dataclass(frozen=True)
class Span:
    """Beijing days ``first`` … ``last``, both included, as the UTC instants ``[start, end)``."""

    first: date
    last: date

    @property
    def start(self) -> datetime:
        return business_day_start(self.first)

    @property
    def end(self) -> datetime:
        return business_day_start(self.last + timedelta(days=1))


@dataclass(slots=True)
class Row:
    """One money movement, amounts in signed fen from the merchant's point of view."""

    at: datetime
    kind: str  # payment | refund
    id: str
    out_trade_no: str
    out_refund_no: str
    channel: str
    method: str
    collection_mode: str
    channel_no: str
    amount: int
    channel_fee: int
    platform_fee: int
    fee_source: str  # bill | booked
    description: str

    @property
    def net(self) -> int:
        return self.amount + self.channel_fee + self.platform_fee


@dataclass
class Totals:
    payments: int = 0
    refunds: int = 0
    amount: int = 0
    channel_fee: int = 0
    platform_fee: int = 0

    def add(self, row: Row) -> None:
        if row.kind == "payment":
            self.payments += 1
        else:
            self.refunds += 1
        self.amount += row.amount
        self.channel_fee += row.channel_fee
        self.platform_fee += row.platform_fee

    @property
    def net(self) -> int:
        return self.amount + self.channel_fee + self.platform_fee


def span_of(first: str, last: str, *, today: date) -> Span:
    """The export's days from the request's ``from`` and ``to`` (YYYY-MM-DD, both included).

    Raises:
        InvalidRequest: ``invalid_date`` (not a date), ``invalid_span`` (``to`` before ``from``, ``from``
            before 1970, ``to`` after today, or more than :data:`MAX_DAYS` days) — all before the export's
            answer starts streaming.
    """
    try:
        span = Span(date.fromisoformat(first), date.fromisoformat(last))
    except (TypeError, ValueError) as exc:
        raise InvalidRequest("from and to are days as YYYY-MM-DD", code="invalid_date") from exc
    if span.last < span.first:
        raise InvalidRequest("to is before from", code="invalid_span")
    if span.first < EARLIEST_STORABLE.date():  # nothing is older; year 1 in Beijing does not convert to UTC
        raise InvalidRequest(f"from is before {EARLIEST_STORABLE:%Y-%m-%d}", code="invalid_span")
    if span.last > today:
        raise InvalidRequest("to is after today (Beijing)", code="invalid_span")
    if (span.last - span.first).days + 1 > MAX_DAYS:
        raise InvalidRequest(f"an export covers at most {MAX_DAYS} days", code="invalid_span",
                             details={"max_days": MAX_DAYS})
    return span


def _fees(payment_amount: int, channel_fee: int | None, channel_bps: int, platform_bps: int) -> tuple[int, int, str]:
    """A payment's channel fee, platform fee (both ≥ 0) and the channel fee's source."""
    platform = fees.fee_for_bps(payment_amount, platform_bps)
    if channel_fee is not None:
        return channel_fee, platform, "bill"
    return fees.fee_for_bps(payment_amount, channel_bps), platform, "booked"


def _payments(db: Database, merchant_id: str, livemode: bool, span: Span) -> Iterator[Row]:
    after: tuple[datetime, str] | None = None
    while True:
        query = (select(Payment.id, Payment.paid_at, Payment.out_trade_no, Payment.channel, Payment.method,
                        Payment.collection_mode, Payment.channel_trade_no, Payment.amount, Payment.channel_fee,
                        Payment.channel_fee_bps, Payment.platform_fee_bps, Payment.description)
                 .where(Payment.merchant_id == merchant_id, Payment.livemode == livemode,
                        Payment.paid_at.is_not(None), Payment.paid_at >= span.start, Payment.paid_at < span.end,
                        Payment.status == "succeeded")
                 .order_by(Payment.paid_at, Payment.id).limit(PAGE))
        if after is not None:
            query = query.where(or_(Payment.paid_at > after[0], and_(Payment.paid_at == after[0],
                                                                      Payment.id > after[1])))
        with db.read_connection() as connection:
            page = connection.execute(query).all()
        for p in page:
            channel_fee, platform_fee, source = _fees(p.amount, p.channel_fee, p.channel_fee_bps, p.platform_fee_bps)
            yield Row(p.paid_at, "payment", p.id, p.out_trade_no, "", p.channel, p.method, p.collection_mode,
                      p.channel_trade_no or "", p.amount, -channel_fee, -platform_fee, source, p.description)
        if len(page) < PAGE:
            return
        after = (page[-1].paid_at, page[-1].id)


def _refunds_page(connection: Connection, merchant_id: str, livemode: bool, span: Span,
                  after: tuple[datetime, str] | None) -> list[Any]:
    earlier = aliased(Refund)
    refunded_before = (select(func.coalesce(func.sum(earlier.amount), 0))
                       .where(earlier.payment_id == Refund.payment_id, earlier.status == "succeeded",
                              or_(earlier.succeeded_at < Refund.succeeded_at,
                                  and_(earlier.succeeded_at == Refund.succeeded_at, earlier.id < Refund.id)))
                       .scalar_subquery())
    query = (select(Refund.id, Refund.succeeded_at, Refund.out_refund_no, Refund.amount, Refund.reason,
                    Refund.channel_refund_no, Refund.channel_fee_returned, refunded_before.label("before"),
                    Payment.out_trade_no, Payment.channel, Payment.method, Payment.collection_mode,
                    Payment.amount.label("payment_amount"), Payment.channel_fee, Payment.channel_fee_bps,
                    Payment.platform_fee_bps)
             .join(Payment, Payment.id == Refund.payment_id)
             .where(Refund.merchant_id == merchant_id, Refund.livemode == livemode,
                    Refund.succeeded_at.is_not(None), Refund.succeeded_at >= span.start,
                    Refund.succeeded_at < span.end, Refund.status == "succeeded")
             .order_by(Refund.succeeded_at, Refund.id).limit(PAGE))
    if after is not None:
        query = query.where(or_(Refund.succeeded_at > after[0], and_(Refund.succeeded_at == after[0],
                                                                      Refund.id > after[1])))
    return list(connection.execute(query).all())


def _refunds(db: Database, merchant_id: str, livemode: bool, span: Span) -> Iterator[Row]:
    after: tuple[datetime, str] | None = None
    while True:
        with db.read_connection() as connection:
            page = _refunds_page(connection, merchant_id, livemode, span, after)
        for r in page:
            charged, platform, source = _fees(r.payment_amount, r.channel_fee, r.channel_fee_bps,
                                              r.platform_fee_bps)
            before = int(r.before)
            returned = fees.refund_fee(amount=r.payment_amount, fee=charged, refunded_before=before,
                                       refund=r.amount)
            if r.channel_fee_returned is not None:
                returned, source = r.channel_fee_returned, "bill"
            platform_back = fees.refund_fee(amount=r.payment_amount, fee=platform, refunded_before=before,
                                            refund=r.amount)
            yield Row(r.succeeded_at, "refund", r.id, r.out_trade_no, r.out_refund_no, r.channel,
                      r.method, r.collection_mode, r.channel_refund_no or "", -r.amount,
                      returned, platform_back, source, r.reason or "")
        if len(page) < PAGE:
            return
        last = page[-1]
        after = (last.succeeded_at, last.id)


def rows(db: Database, merchant_id: str, livemode: bool, span: Span) -> Iterator[Row]:
    """The span's payments and refunds in time order, read a page at a time (each page its own short read,
    so a slow download never holds a transaction open)."""
    return heapq.merge(_payments(db, merchant_id, livemode, span), _refunds(db, merchant_id, livemode, span),
                       key=lambda row: (row.at, row.id))


def local_time(at: datetime) -> str:
    """Beijing wall time to the second, ``YYYY-MM-DD HH:MM:SS``."""
    return at.astimezone(BUSINESS_TZ).isoformat(" ", "seconds")[:19]
