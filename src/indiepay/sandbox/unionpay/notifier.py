"""Back notifications (后台通知) of the simulated gateway, delivered on UnionPay's real resend schedule.

UnionPay POSTs an ordinary URL-encoded form to the transaction's ``backUrl`` once a payment is made or a
refund succeeds. Delivery counts as accepted when the merchant answers HTTP 200 (any body) within 10 s;
otherwise the notify is sent again after 1, 2, 4 and 5 minutes — five sends in all — with the gaps
divided by ``time_factor``. Fault knobs drop attempts (each counts as a failed send, as a lost notify
would), send each attempt twice at once, or delay the first attempt.

A notify is signed once, when it is created, with the key the gateway signs with at that moment (the
impostor's under ``foreign_signer``), and every resend carries exactly those bytes. Notifies are persisted
with their attempt log, and undelivered ones are resumed by the first request after a restart (mounted
apps get no lifespan events).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any

import httpx

from indiepay.channels.unionpay import signing
from indiepay.core.clock import Clock
from indiepay.sandbox.background import start_task
from indiepay.sandbox.delivery import attempt_with_faults, deliver
from indiepay.sandbox.http import REFUSED, CallbackHttp, callback_allowed
from indiepay.sandbox.unionpay import protocol
from indiepay.sandbox.unionpay.certs import KeyRing
from indiepay.sandbox.unionpay.config import NOTIFY_GAPS, NOTIFY_TIMEOUT_SECONDS
from indiepay.sandbox.unionpay.protocol import CURRENCY, beijing, sign_fields
from indiepay.sandbox.unionpay.store import NotifyRecord, SandboxStore, Txn

_HTTP = CallbackHttp(NOTIFY_TIMEOUT_SECONDS)
ACCEPTED = "HTTP 200"  # UnionPay stops resending on HTTP 200, whatever the body


def notify_fields(txn: Txn) -> dict[str, str]:
    """The fields of a paid order's or a succeeded refund's notification (unsigned); the front
    notification posted through the buyer's browser carries the same ones."""
    fields = {
        "version": signing.VERSION, "encoding": "UTF-8", "signMethod": signing.SIGN_METHOD_RSA,
        "accessType": txn.access_type, "bizType": txn.biz_type, "txnType": txn.txn_type,
        "txnSubType": txn.txn_sub_type, "merId": txn.mer_id, "orderId": txn.order_id, "txnTime": txn.txn_time,
        "txnAmt": str(txn.txn_amt), "currencyCode": txn.currency_code, "queryId": txn.query_id or "",
        "traceNo": txn.trace_no or "", "traceTime": txn.trace_time or "", "settleAmt": str(txn.txn_amt),
        "settleCurrencyCode": CURRENCY, "settleDate": txn.settle_date or "", "respCode": protocol.OK,
        "respMsg": protocol.resp_msg(protocol.OK), "accNo": txn.acc_no or "", "payCardType": "01",
        "payType": "0001",
    }
    if txn.req_reserved:
        fields["reqReserved"] = txn.req_reserved
    if txn.orig_qry_id:
        fields["origQryId"] = txn.orig_qry_id
    return fields


class Notifier:
    """Signs, persists, sends and resends notifies; one per sandbox instance."""

    def __init__(self, store: SandboxStore, keys: KeyRing, clock: Clock, time_factor: float,
                 callbacks_to: str | None = None) -> None:
        self._store = store
        self._callbacks_to = callbacks_to
        self._keys = keys
        self._clock = clock
        self._time_factor = time_factor
        self._tasks: set[asyncio.Task[None]] = set()
        self._resumed = False

    def signed(self, txn: Txn) -> dict[str, str]:
        """The notification fields of ``txn`` signed by whoever signs this merchant's messages now."""
        foreign = self._store.faults(txn.mer_id).foreign_signer
        return sign_fields(notify_fields(txn), self._keys.signer(self._clock.now(), foreign=foreign))

    def send(self, txn: Txn, group_id: str, form: dict[str, str] | None = None) -> dict[str, str]:
        """Persist a notify of ``txn`` (``form``: already signed fields to send) and start delivering it;
        returns the signed form. Call inside the event loop."""
        signed = form or self.signed(txn)
        record = NotifyRecord(notify_id=uuid.uuid4().hex, mer_id=txn.mer_id, group_id=group_id,
                              order_id=txn.order_id, kind=txn.kind, url=txn.back_url, form=signed)
        self._store.save_notify(record)
        self._start(record.notify_id, self._store.faults(txn.mer_id).callback_delay_seconds)
        return signed

    def resume(self) -> None:
        """Restart delivery of notifies left undelivered by a previous process (once per instance)."""
        if self._resumed:
            return
        self._resumed = True
        for record in self._store.pending_notifies():
            if record.attempts < len(NOTIFY_GAPS) and not self._running(record.notify_id):
                self._start(record.notify_id, 0.0)

    def _running(self, notify_id: str) -> bool:
        return any(task.get_name() == notify_id for task in self._tasks)

    def _start(self, notify_id: str, delay: float) -> None:
        start_task(self._tasks, self._deliver(notify_id, delay), what=f"unionpay notify {notify_id}",
                   name=notify_id)

    async def _deliver(self, notify_id: str, delay: float) -> None:
        http = _HTTP.client()

        def attempt(record: NotifyRecord) -> Awaitable[str]:
            return attempt_with_faults(dropped=self._store.take_fault(record.mer_id, "drop_callbacks"),
                                       duplicated=self._store.faults(record.mer_id).duplicate_callbacks,
                                       post=lambda: self._post(http, record, self._callbacks_to), accepted=ACCEPTED)

        await deliver(load=lambda: self._store.notify(notify_id), save=self._store.save_notify, gaps=NOTIFY_GAPS,
                      time_factor=self._time_factor, attempt=attempt, accepted=ACCEPTED, delay=delay,
                      stamp=lambda n, outcome: f"{beijing(datetime.now(UTC), '%Y-%m-%d %H:%M:%S')} send {n}: {outcome}")

    @staticmethod
    async def _post(http: httpx.AsyncClient, record: NotifyRecord, callbacks_to: str | None) -> str:
        if not callback_allowed(record.url, callbacks_to):
            return REFUSED
        headers = {"Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"}
        try:
            reply = await http.post(record.url, data=record.form, headers=headers)
        except httpx.HTTPError as exc:
            return f"error {type(exc).__name__}"
        return f"HTTP {reply.status_code}"

    @staticmethod
    def describe(records: list[NotifyRecord]) -> list[dict[str, Any]]:
        """Notify records for the ``/_orders`` inspection endpoint, with the signed form as sent, so a test
        can replay a genuine notify or tamper with one."""
        return [{"notify_id": r.notify_id, "kind": r.kind, "order_id": r.order_id, "url": r.url,
                 "attempts": r.attempts, "delivered": r.delivered, "log": r.log, "fields": dict(r.form)}
                for r in records]
