"""The UnionPay sandbox's reconciliation file: ``fileTransfer`` (文件传输, ``txnType 76``, ``fileType 00``).

Production serves it from a host of its own (``https://filedownload.95516.com/``); the sandbox serves it
below its mount at ``/filedownload/``, where the platform's client posts. The request names the clearing
day by ``settleDate`` (``MMdd``, no year): the gateway takes the most recent such day that is not after
the current clearing day. A clearing day D runs from D-1 23:00:00 to D 23:00:00 Beijing time (the rule
``settleDate`` already follows, :func:`.transactions.settle_date`), so the file of D exists once
:func:`indiepay.sandbox.billing.bill_status` calls it ready — from ``bill_publish_after`` (09:00) the next
morning, when D has certainly ended; before that the answer is ``98`` 文件不存在. A quiet day that has
ended gets a file without rows.

The answer carries ``fileName`` (``<merId>_<yyyyMMdd>.zip``) and ``fileContent``: base64 of the zip
deflated as a zlib stream (header and checksum, as Java's ``Deflater`` writes it and the acp SDK's
``inflater`` reads it), both covered by the gateway's signature like every answer. The zip is the real
layout, written by :func:`indiepay.reconciliation.writers.unionpay.render_unionpay_bill_zip`: one ``01``
row per order paid in the clearing window, booked at its ``traceTime``, and one ``04`` row per succeeded
refund booked at its acceptance (its own ``traceTime``); failed and still-processing refunds are absent,
as their money never moved. The fee is charged per payment at the configured rate, rounded to the fen,
and returned pro rata on refunds. Rows are ordered by booking instant, payments before refunds, then
acceptance order. The file is a pure function of the gateway's records, so fetching a day twice gives
the same bytes.

Bill fault knobs (:mod:`indiepay.sandbox.billing`) apply, except ``wrong_hash`` (no digest is announced;
the signature covers the content). Their ``bill_date`` names the clearing day, and
``shift_across_midnight`` moves the target order across the *clearing-day* boundary: to D 23:00:00
(``next``, the first instant of D+1) or D-1 22:59:59 (``previous``), in the gateway's record, so the order
leaves this day's file and appears in the neighbouring one. What was applied is kept in memory for the
``GET /_faults`` view; the knobs still queued are stored with the merchant's other knobs.
"""

from __future__ import annotations

import base64
import threading
import zlib
from dataclasses import replace
from datetime import date, datetime, time, timedelta
from typing import Any

from indiepay.core.clock import BUSINESS_TZ
from indiepay.reconciliation.parsers.unionpay import UnionpayBillRow, archive_name
from indiepay.reconciliation.writers.unionpay import render_unionpay_bill_zip
from indiepay.sandbox import billing
from indiepay.sandbox.billing import BillFault, RowKey
from indiepay.sandbox.clock import SandboxClock
from indiepay.sandbox.unionpay import protocol
from indiepay.sandbox.unionpay.config import UnionpaySandboxConfig
from indiepay.sandbox.unionpay.protocol import answer_fields, month_day
from indiepay.sandbox.unionpay.store import PAID, PROCESSING, REFUND, SUCCEEDED, SandboxStore, Txn
from indiepay.sandbox.unionpay.transactions import TxnDesk

FAULTS = billing.FAULTS - {"wrong_hash"}
BILLS = frozenset({"trade"})
FEE_PLACES = 2
CLEARING_CUTOFF = time(23, 0)
PAYMENT_TYPE, REFUND_TYPE = "01", "04"


def clearing_day_of(at: datetime) -> date:
    """The clearing day an instant belongs to: it starts at 23:00 Beijing time the evening before."""
    return (at.astimezone(BUSINESS_TZ) + timedelta(hours=1)).date()


def clearing_window(day: date) -> tuple[datetime, datetime]:
    """``[D-1 23:00, D 23:00)`` Beijing time, aware."""
    end = datetime.combine(day, CLEARING_CUTOFF, BUSINESS_TZ)
    return end - timedelta(days=1), end


def shifted_time(day: date, direction: str) -> datetime:
    """Where ``shift_across_midnight`` books an order of clearing day ``day``: the first instant of the
    next clearing day, or the last second of the previous one."""
    start, end = clearing_window(day)
    return end if direction == "next" else start - timedelta(seconds=1)


def named_day(settle_date: str, now: datetime) -> date:
    """The clearing day ``settleDate`` (``MMdd``, already checked by :func:`.protocol.check_request`) names:
    the most recent date with that month and day not after the current clearing day. The current clearing
    day rather than the calendar date: between 23:00 and midnight, tomorrow's ``MMdd`` is the day now running
    (and answers 98), not the same day a year ago. 29 February may lie up to eight years back."""
    parsed = month_day(settle_date)
    if parsed is None:
        raise ValueError(f"settleDate {settle_date!r} is not MMdd")
    month, day = parsed
    latest = clearing_day_of(now)
    for year in range(latest.year, latest.year - 9, -1):
        try:
            candidate = date(year, month, day)
        except ValueError:  # 29 February in a common year
            continue
        if candidate <= latest:
            return candidate
    raise ValueError(f"no {settle_date} in the last eight years")  # unreachable for a real MMdd


def booked_at(txn: Txn) -> datetime | None:
    """When the file books a transaction (aware Beijing): a paid order at its payment, the ``traceTime`` it
    reported, unless a shift knob moved it; a refund when it was accepted (its own ``traceTime``). Records
    of an older sandbox without ``traced_at`` fall back to the payment time or the creation time."""
    refund = txn.kind == REFUND
    text = (txn.traced_at or txn.created_at) if refund else (txn.bill_time or txn.traced_at or txn.completed_at)
    return datetime.fromisoformat(text).astimezone(BUSINESS_TZ) if text else None


class BillDesk:
    """Publishes one sandbox instance's reconciliation files: rows from the store, knobs applied."""

    def __init__(self, store: SandboxStore, config: UnionpaySandboxConfig, clock: SandboxClock,
                 desk: TxnDesk) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.desk = desk
        self._log_lock = threading.Lock()
        self._log: dict[str, list[dict[str, Any]]] = {}

    # -- the gateway call ----------------------------------------------------------------------------

    def file_transfer(self, fields: dict[str, str]) -> dict[str, str]:
        """The answer fields of an accepted (checked and authenticated) file request: ``00`` with the file,
        or ``98`` while the named clearing day's file is not published."""
        now = self.clock.now()
        day = named_day(fields["settleDate"], now)
        echo = {"settleDate": fields["settleDate"], "fileType": fields["fileType"]}
        if billing.bill_status(day, now, self.config.bill_publish_after) != billing.READY:
            return answer_fields(fields, protocol.FILE_NOT_FOUND, echo)
        mer_id = fields["merId"]
        packed = base64.b64encode(zlib.compress(self.publish(mer_id, day))).decode("ascii")
        return answer_fields(fields, protocol.OK, {**echo, "fileName": archive_name(mer_id, day),
                                                    "fileContent": packed})

    # -- knobs ---------------------------------------------------------------------------------------

    def queue_fault(self, mer_id: str, data: Any) -> None:
        """Queue a ``bill_fault`` knob. Raises :class:`billing.BillFaultError`."""
        fault = BillFault.parse(data, faults=FAULTS, bills=BILLS)
        with self.store.lock:
            faults = self.store.faults(mer_id)
            faults.bill_faults.append(fault.as_dict())
            self.store.save_faults(mer_id, faults)

    def applied(self, mer_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._log.get(mer_id, []))

    def forget(self, mer_id: str) -> None:
        with self._log_lock:
            self._log.pop(mer_id, None)

    # -- the file ------------------------------------------------------------------------------------

    def publish(self, mer_id: str, day: date) -> bytes:
        """The clearing day's zip, with any matching fault knobs applied (and used up)."""
        with self.store.lock:
            faults = self.store.faults(mer_id)
            taken, kept = billing.take_faults(faults.bill_faults, "trade", day)
            if taken:
                faults.bill_faults = kept
                self.store.save_faults(mer_id, faults)
        log = [self._shift(mer_id, fault, day) for fault in taken if fault.fault == "shift_across_midnight"]
        rows, row_log = billing.corrupt_rows(self.rows(mer_id, day), taken, _change)
        applied = [{**entry, "applied_to": day.isoformat()} for entry in row_log] + log
        if applied:
            with self._log_lock:
                self._log.setdefault(mer_id, []).extend(applied)
        return render_unionpay_bill_zip((row for _, row in rows), mer_id=mer_id, clearing_day=day)

    def rows(self, mer_id: str, day: date) -> list[tuple[RowKey, UnionpayBillRow]]:
        """The clearing day's rows, keyed by (the order's orderId, the refund's orderId or None)."""
        for txn in self.store.txns_of(mer_id):  # end refunds whose time has come, as a query would
            if txn.kind == REFUND and txn.status == PROCESSING:
                self.desk.settle(txn.mer_id, txn.order_id)
        start, end = clearing_window(day)
        txns = self.store.txns_of(mer_id)
        orders = {t.query_id: t for t in txns if t.kind != REFUND and t.status == PAID and t.query_id}
        events: list[tuple[tuple[datetime, int, int], RowKey, UnionpayBillRow]] = []
        for seq, txn in enumerate(txns):
            at = booked_at(txn)
            if at is None or not start <= at < end:
                continue
            if txn.kind != REFUND and txn.status == PAID:
                events.append(((at, 0, seq), (txn.order_id, None), self._payment_row(txn, at)))
            elif txn.kind == REFUND and txn.status == SUCCEEDED and (order := orders.get(txn.orig_qry_id or "")):
                events.append(((at, 1, seq), (order.order_id, txn.order_id), self._refund_row(order, txn, at)))
        events.sort(key=lambda event: event[0])
        return [(key, row) for _, key, row in events]

    def _fee_fen(self, amount_fen: int) -> int:
        return int(billing.fee(amount_fen, self.config.fee_rate, FEE_PLACES) * 100)

    def _payment_row(self, order: Txn, at: datetime) -> UnionpayBillRow:
        fee = self._fee_fen(order.txn_amt)
        return UnionpayBillRow(
            kind="payment", txn_type=PAYMENT_TYPE, out_trade_no=order.order_id, out_refund_no="",
            query_id=order.query_id or "", orig_query_id="", amount_fen=order.txn_amt, fee_fen=fee,
            settle_fen=order.txn_amt - fee, event_time=at.replace(microsecond=0), mer_id=order.mer_id,
            trace_no=order.trace_no or "", card_no=order.acc_no or "",
        )

    def _refund_row(self, order: Txn, refund: Txn, at: datetime) -> UnionpayBillRow:
        returned = self._fee_fen(refund.txn_amt)
        return UnionpayBillRow(
            kind="refund", txn_type=REFUND_TYPE, out_trade_no=order.order_id, out_refund_no=refund.order_id,
            query_id=refund.query_id or "", orig_query_id=order.query_id or "", amount_fen=refund.txn_amt,
            fee_fen=-returned, settle_fen=-(refund.txn_amt - returned), event_time=at.replace(microsecond=0),
            mer_id=refund.mer_id, trace_no=refund.trace_no or "", card_no=refund.acc_no or "",
        )

    def _shift(self, mer_id: str, fault: BillFault, day: date) -> dict[str, Any]:
        """Move the target paid order's booking instant across the clearing-day boundary, in the record."""
        start, end = clearing_window(day)
        entry: dict[str, Any] = {**fault.as_dict(), "applied_to": day.isoformat(), "target": None}
        with self.store.lock:
            candidates = [t for t in self.store.txns_of(mer_id)
                          if t.kind != REFUND and t.status == PAID and (at := booked_at(t)) is not None
                          and start <= at < end and fault.out_trade_no in (None, t.order_id)]
            candidates.sort(key=lambda t: booked_at(t) or start)  # stable: same instant by acceptance
            if candidates:
                order = candidates[0]
                order.bill_time = shifted_time(day, fault.direction).isoformat()
                self.store.save_txn(order)
                entry.update(target=[order.order_id, None], moved_to=order.bill_time)
        return entry


def _change(row: UnionpayBillRow, key: RowKey, delta: int) -> UnionpayBillRow:
    """Move a row's amount by ``delta`` fen (a refund's refunded amount, likewise), the fee as charged."""
    direction = -1 if key[1] is not None else 1
    return replace(row, amount_fen=row.amount_fen + delta, settle_fen=row.settle_fen + direction * delta)
