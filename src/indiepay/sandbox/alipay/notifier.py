"""Async notifies of the simulated gateway, delivered on Alipay's real retry schedule.

Alipay POSTs a signed form to the order's ``notify_url`` and stops only when the body of the answer is
exactly ``success``; otherwise it tries again after 4m, 10m, 10m, 1h, 2h, 6h and 15h (8 attempts in
all, ~25 h). The schedule is divided by ``time_factor``. Fault knobs can drop attempts (each dropped
attempt counts, as a lost callback would), duplicate each delivery (two concurrent POSTs of the same
notify) or delay the first attempt.

Delivery runs as asyncio tasks started from request handlers (mounted apps get no lifespan events). Every
notify is persisted with its attempt log, and undelivered ones are resumed by the first request after a
restart.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable
from datetime import datetime
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing
from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.alipay.store import App, NotifyRecord, Order, Refund, SandboxStore
from indiepay.sandbox.alipay.trades import cn_time, now_utc
from indiepay.sandbox.background import start_task
from indiepay.sandbox.delivery import attempt_with_faults, deliver
from indiepay.sandbox.http import REFUSED, CallbackHttp, callback_allowed

# Seconds to wait before each attempt: the first goes at once, then Alipay's documented gaps.
ACCEPTED = "success"  # Alipay stops retrying on exactly this body
RETRY_GAPS = (0, 4 * 60, 10 * 60, 10 * 60, 60 * 60, 2 * 3600, 6 * 3600, 15 * 3600)
ATTEMPT_TIMEOUT = 10.0
_HTTP = CallbackHttp(ATTEMPT_TIMEOUT)


def _now_cn() -> str:
    return now_utc().astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


def new_notify_id() -> str:
    return datetime.now(BUSINESS_TZ).strftime("%Y%m%d") + "0022" + secrets.token_hex(14)


def payment_form(app: App, order: Order) -> dict[str, str]:
    """The ``trade_status_sync`` fields of a payment (unsigned)."""
    paid = fen_to_yuan(order.total_fen)
    form = {
        "notify_time": _now_cn(), "notify_type": "trade_status_sync", "notify_id": new_notify_id(),
        "charset": "utf-8", "version": "1.0", "app_id": app.app_id, "auth_app_id": app.app_id,
        "seller_id": app.seller_id, "trade_no": order.trade_no, "out_trade_no": order.out_trade_no,
        "trade_status": order.status, "total_amount": paid, "receipt_amount": paid, "invoice_amount": paid,
        "buyer_pay_amount": paid, "point_amount": "0.00", "subject": order.subject,
        "buyer_id": order.buyer_id or "", "buyer_logon_id": order.buyer_logon_id or "",
        "gmt_create": cn_time(order.gmt_create) or "", "gmt_payment": cn_time(order.paid_at) or "",
        "fund_bill_list": '[{"amount":"' + paid + '","fundChannel":"ALIPAYACCOUNT"}]',
    }
    return {k: v for k, v in form.items() if v != ""}


def refund_form(app: App, order: Order, refund: Refund) -> dict[str, str]:
    """A refund notify: the trade's fields plus ``out_biz_no``, cumulative ``refund_fee``, ``gmt_refund``."""
    form = payment_form(app, order)
    form.update(out_biz_no=refund.out_request_no, refund_fee=fen_to_yuan(order.refunded_fen),
                gmt_refund=(cn_time(refund.refunded_at) or "") + ".000")
    return form


def sign_form(form: dict[str, str], private_key: rsa.RSAPrivateKey) -> dict[str, str]:
    signed = dict(form, sign_type="RSA2")
    signed["sign"] = signing.rsa2_sign(private_key, signing.notify_sign_content(signed))
    return signed


class Notifier:
    """Schedules and retries notifies; one per sandbox app instance."""

    def __init__(self, store: SandboxStore, time_factor: float, callbacks_to: str | None = None) -> None:
        self._store = store
        self._callbacks_to = callbacks_to
        self._time_factor = max(time_factor, 1e-9)
        self._tasks: set[asyncio.Task[None]] = set()
        self._resumed = False

    def send(self, app: App, order: Order, form: dict[str, str], private_key: rsa.RSAPrivateKey) -> None:
        """Persist a signed notify for ``order`` and start delivering it (call inside the event loop)."""
        if not order.notify_url:
            return
        signed = sign_form(form, private_key)
        record = NotifyRecord(notify_id=signed["notify_id"], app_id=app.app_id, out_trade_no=order.out_trade_no,
                              url=order.notify_url, form=signed)
        self._store.save_notify(record)
        delay = self._store.faults(app.app_id).callback_delay_seconds
        self._start(record.notify_id, delay)

    def resume(self) -> None:
        """Restart delivery of notifies left undelivered by a previous process (once per instance)."""
        if self._resumed:
            return
        self._resumed = True
        for record in self._store.pending_notifies():
            if record.attempts < len(RETRY_GAPS) and not self._running(record.notify_id):
                self._start(record.notify_id, 0.0)

    def _running(self, notify_id: str) -> bool:
        return any(task.get_name() == notify_id for task in self._tasks)

    def _start(self, notify_id: str, delay: float) -> None:
        start_task(self._tasks, self._deliver(notify_id, delay), what=f"alipay notify {notify_id}", name=notify_id)

    async def _deliver(self, notify_id: str, delay: float) -> None:
        http = _HTTP.client()

        def attempt(record: NotifyRecord) -> Awaitable[str]:
            return attempt_with_faults(dropped=self._store.take_fault(record.app_id, "drop_callbacks"),
                                       duplicated=self._store.faults(record.app_id).duplicate_callbacks,
                                       post=lambda: self._post(http, record, self._callbacks_to), accepted=ACCEPTED)

        await deliver(load=lambda: self._store.notify(notify_id), save=self._store.save_notify, gaps=RETRY_GAPS,
                      time_factor=self._time_factor, attempt=attempt, accepted=ACCEPTED, delay=delay,
                      stamp=lambda n, outcome: f"{_now_cn()} attempt {n}: {outcome}")

    @staticmethod
    async def _post(http: httpx.AsyncClient, record: NotifyRecord, callbacks_to: str | None) -> str:
        if not callback_allowed(record.url, callbacks_to):
            return REFUSED
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        try:
            reply = await http.post(record.url, data=record.form, headers=headers)
        except httpx.HTTPError as exc:
            return f"error {type(exc).__name__}"
        if reply.status_code == 200 and reply.content == b"success":
            return ACCEPTED
        return f"HTTP {reply.status_code} {reply.content[:40]!r}"

    def describe(self, records: list[NotifyRecord]) -> list[dict[str, Any]]:
        """Notify records for the ``/_orders`` inspection endpoint, with the signed form as sent, so a
        test can replay a genuine notify or tamper with one."""
        return [{"notify_id": r.notify_id, "url": r.url, "trade_status": r.form.get("trade_status"),
                 "out_biz_no": r.form.get("out_biz_no"), "attempts": r.attempts, "delivered": r.delivered,
                 "log": r.log, "form": dict(r.form)} for r in records]
