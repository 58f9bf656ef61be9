"""The Alipay sandbox's daily bill: ``alipay.data.dataservice.bill.downloadurl.query`` and the zip behind it.

For ``bill_type=trade`` and a ``bill_date`` (``yyyy-MM-dd``) whose bill is published (see
:mod:`indiepay.sandbox.billing`), the method answers ``bill_download_url`` — a link served by the sandbox
itself (``<mount>/downloadBillFile.resource?…&token=…``, unsigned, valid 30 seconds, like Alipay's
``dwbillcenter`` links) — else ``40004`` ``isp.bill_not_exist``. The zip is the real format, written by
:func:`indiepay.reconciliation.writers.alipay.render_alipay_bill_zip`: one 交易 row per trade paid that day
(完成时间 = payment time) and one 退款 row per refund made that day, with negative amounts; the service fee
is charged per row at the configured rate, two decimals, printed negative on trades (a charge) and
positive on refunds (returned). Rows are ordered by time, trades before refunds, then creation order.

Bill fault knobs (:mod:`indiepay.sandbox.billing`) apply, except ``wrong_hash``: Alipay announces no digest.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from indiepay.reconciliation.parsers.alipay import REFUND, TRADE, AlipayBillRow
from indiepay.reconciliation.writers.alipay import render_alipay_bill_zip
from indiepay.sandbox import billing
from indiepay.sandbox.alipay.config import AlipaySandboxConfig
from indiepay.sandbox.alipay.store import App, Order, Refund, SandboxStore
from indiepay.sandbox.alipay.trades import business, invalid
from indiepay.sandbox.billing import BillDownloads, BillFault, RowKey
from indiepay.sandbox.clock import SandboxClock

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
DOWNLOAD_PATH = "/downloadBillFile.resource"
FAULTS = billing.FAULTS - {"wrong_hash"}
BILLS = frozenset({"trade"})
FEE_PLACES = 2


def paid_at(order: Order) -> datetime | None:
    """When the bill books the trade: its payment time, unless a shift knob moved it."""
    text = order.bill_time or order.paid_at
    return datetime.fromisoformat(text) if text else None


class BillDesk:
    """Publishes one sandbox instance's bills: rows from the store, knobs applied, download links."""

    def __init__(self, store: SandboxStore, config: AlipaySandboxConfig, clock: SandboxClock) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.downloads = BillDownloads()
        self._log_lock = threading.Lock()
        self._log: dict[str, list[dict[str, Any]]] = {}

    # -- the gateway method --------------------------------------------------------------------------

    def download_url(self, app: App, biz: dict[str, Any], base_url: str) -> dict[str, Any]:
        """The body of a successful ``bill.downloadurl.query``.

        Raises:
            GatewayError: 40002 for a bill type or date the sandbox does not serve, 40004
                ``isp.bill_not_exist`` before the bill is published.
        """
        if biz.get("bill_type") != "trade":
            raise invalid("isv.invalid-parameter", "沙箱仅支持 bill_type=trade")
        text = biz.get("bill_date")
        try:
            bill_date = date.fromisoformat(text) if isinstance(text, str) and len(text) == 10 else None
        except ValueError:
            bill_date = None
        if bill_date is None:
            raise invalid("isv.invalid-parameter", "bill_date 格式应为 yyyy-MM-dd（沙箱不提供月账单）")
        status = billing.bill_status(bill_date, self.clock.now(), self.config.bill_publish_after)
        if status != billing.READY:
            raise business("isp.bill_not_exist", "账单不存在")
        token = self.downloads.publish(app.app_id, self.publish(app, bill_date))
        return {"bill_download_url": f"{base_url}{DOWNLOAD_PATH}?bizType=trade&userId={app.seller_id}"
                                     f"&fileType=csv.zip&bizDates={bill_date:%Y%m%d}&token={token}"}

    def download(self, token: str) -> bytes | None:
        found = self.downloads.get(token)
        return None if found is None else found[1]

    # -- knobs ---------------------------------------------------------------------------------------

    def queue_fault(self, app_id: str, data: Any) -> None:
        """Queue a ``bill_fault`` knob. Raises :class:`billing.BillFaultError`."""
        fault = BillFault.parse(data, faults=FAULTS, bills=BILLS)
        with self.store.lock:
            faults = self.store.faults(app_id)
            faults.bill_faults.append(fault.as_dict())
            self.store.save_faults(app_id, faults)

    def applied(self, app_id: str) -> list[dict[str, Any]]:
        with self._log_lock:
            return list(self._log.get(app_id, []))

    def forget(self, app_id: str) -> None:
        with self._log_lock:
            self._log.pop(app_id, None)

    # -- the file ------------------------------------------------------------------------------------

    def publish(self, app: App, bill_date: date) -> bytes:
        """The day's zip, with any matching fault knobs applied (and used up)."""
        with self.store.lock:
            faults = self.store.faults(app.app_id)
            taken, faults.bill_faults = billing.take_faults(faults.bill_faults, "trade", bill_date)
            self.store.save_faults(app.app_id, faults)
        log = [self._shift(app, fault, bill_date) for fault in taken if fault.fault == "shift_across_midnight"]
        rows, row_log = billing.corrupt_rows(self.rows(app, bill_date), taken, _change)
        applied = [{**entry, "applied_to": bill_date.isoformat()} for entry in row_log] + log
        if applied:
            with self._log_lock:
                self._log.setdefault(app.app_id, []).extend(applied)
        return render_alipay_bill_zip((row for _, row in rows), pid=app.seller_id, bill_date=bill_date)

    def rows(self, app: App, bill_date: date) -> list[tuple[RowKey, AlipayBillRow]]:
        """The day's detail rows, keyed by (out_trade_no, out_request_no of a refund)."""
        start, end = billing.day_bounds(bill_date)
        paid = {o.out_trade_no: o for o in self.store.orders_of(app.app_id) if o.paid_at}
        events: list[tuple[tuple[datetime, int, int], RowKey, AlipayBillRow]] = []
        for seq, order in enumerate(paid.values()):
            at = paid_at(order)
            if at is not None and start <= at < end:
                events.append(((at, 0, seq), (order.out_trade_no, None), self._trade_row(order)))
        for seq, refund in enumerate(self.store.all_refunds(app.app_id)):
            trade = paid.get(refund.out_trade_no)
            at = datetime.fromisoformat(refund.refunded_at)
            if trade is not None and start <= at < end:
                events.append(((at, 1, seq), (refund.out_trade_no, refund.out_request_no),
                               self._refund_row(trade, refund)))
        events.sort(key=lambda event: event[0])
        return [(key, row) for _, key, row in events]

    def _trade_row(self, order: Order) -> AlipayBillRow:
        at = paid_at(order)
        assert at is not None
        return AlipayBillRow(
            trade_no=order.trade_no, out_trade_no=order.out_trade_no, business_type=TRADE, product=order.subject,
            created_at=datetime.fromisoformat(order.gmt_create or order.created_at), finished_at=at,
            order_amount_fen=order.total_fen, receipt_fen=order.total_fen,
            service_fee=billing.opposite(billing.fee(order.total_fen, self.config.fee_rate, FEE_PLACES)),
            counterparty=order.buyer_logon_id or "", alipay_red_packet_fen=0, jifenbao_fen=0,
            alipay_discount_fen=0, merchant_discount_fen=0, voucher_fen=0, merchant_red_packet_fen=0, card_fen=0,
            profit_share_fen=0,
        )

    def _refund_row(self, order: Order, refund: Refund) -> AlipayBillRow:
        return replace(self._trade_row(order), business_type=REFUND,
                       finished_at=datetime.fromisoformat(refund.refunded_at),
                       order_amount_fen=-refund.amount_fen, receipt_fen=-refund.amount_fen,
                       service_fee=billing.fee(refund.amount_fen, self.config.fee_rate, FEE_PLACES),
                       refund_request_no=refund.out_request_no)

    def _shift(self, app: App, fault: BillFault, bill_date: date) -> dict[str, Any]:
        """Move the target trade's booking time across midnight, in the gateway's record."""
        start, end = billing.day_bounds(bill_date)
        entry: dict[str, Any] = {**fault.as_dict(), "applied_to": bill_date.isoformat(), "target": None}
        with self.store.lock:
            candidates = [o for o in self.store.orders_of(app.app_id)
                          if (at := paid_at(o)) is not None and start <= at < end
                          and fault.out_trade_no in (None, o.out_trade_no)]
            candidates.sort(key=lambda o: paid_at(o) or start)  # stable: same-second trades by creation
            if candidates:
                order = candidates[0]
                order.bill_time = billing.shifted_time(bill_date, fault.direction).isoformat()
                self.store.save_order(order)
                entry.update(target=[order.out_trade_no, None], moved_to=order.bill_time)
        return entry


def _change(row: AlipayBillRow, key: RowKey, delta: int) -> AlipayBillRow:
    """Move a row's amounts by ``delta`` fen: a trade's up, a refund's (negative) amounts further down."""
    signed = delta if key[1] is None else -delta
    return replace(row, order_amount_fen=row.order_amount_fen + signed, receipt_fen=row.receipt_fen + signed)

