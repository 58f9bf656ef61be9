"""Transaction rules of the simulated UnionPay gateway: what each accepted request does to the state.

The rules follow the real gateway where a client can observe them. ``orderId`` is unique per merchant
across every transaction type: an identical resend (same type, ``txnTime``, ``txnAmt`` and original)
gets the first answer again, anything else reusing the number is 12 重复交易. A QR or gateway-page
order is invisible to the query (34) until it is paid, and cannot be paid after its ``payTimeout``
(real time: the client computed it from its own clock). Refunds name the paid order by ``origQryId``
(unknown, unpaid or another merchant's → 35), may be partial and repeated up to what is left (33
beyond), and stay processing (``origRespCode`` 05) for ``REFUND_SETTLE_SECONDS / time_factor`` before
they succeed — or fail, giving the money back to the order, when the ``refund_fail`` knob was on at
acceptance. The times a transaction records come from the gateway's business clock, which tests may move.
``settleDate`` follows UnionPay's clearing day, which rolls over at 23:00 Beijing time.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta

from indiepay.core.clock import Clock
from indiepay.sandbox.unionpay import protocol
from indiepay.sandbox.unionpay.config import REFUND_SETTLE_SECONDS
from indiepay.sandbox.unionpay.protocol import CURRENCY, GatewayError, answer_fields, beijing, parse_beijing
from indiepay.sandbox.unionpay.store import (
    FAILED,
    FRONT,
    PAID,
    PROCESSING,
    QR,
    REFUND,
    SUCCEEDED,
    UNPAID,
    SandboxStore,
    Txn,
)

_FINGERPRINT = ("txnType", "txnSubType", "txnTime", "txnAmt", "origQryId")
ORIG_RESP = {PAID: protocol.OK, SUCCEEDED: protocol.OK, PROCESSING: protocol.PROCESSING, FAILED: protocol.FAILED}


class PayRefused(Exception):
    """The buyer cannot pay this order: ``reason`` is ``order_not_found``, ``already_paid`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def settle_date(at: datetime) -> str:
    """``MMdd`` of UnionPay's clearing day: it starts at 23:00 Beijing time the evening before."""
    return beijing(at + timedelta(hours=1), "%m%d")


def real_now() -> datetime:
    return datetime.now(UTC)


class TxnDesk:
    """The transaction rules over a :class:`SandboxStore`.

    ``refund_succeeded`` is called (outside the store lock) for every refund that just succeeded, whoever
    settled it — the timer or a query that found it due — so its notify is sent exactly once.
    """

    def __init__(self, store: SandboxStore, clock: Clock, time_factor: float,
                 refund_succeeded: Callable[[Txn], None]) -> None:
        self.store = store
        self.clock = clock
        self.time_factor = time_factor
        self.refund_succeeded = refund_succeeded

    # -- shared ------------------------------------------------------------------------------------------

    def _earlier(self, fields: Mapping[str, str]) -> Txn | None:
        """The transaction already holding this ``orderId`` if the request repeats it exactly; raises
        GatewayError(12) when the number was used for something else."""
        txn = self.store.txn(fields["merId"], fields["orderId"])
        if txn is None:
            return None
        if txn.fingerprint != {k: fields.get(k, "") for k in _FINGERPRINT}:
            raise GatewayError(protocol.DUPLICATE, f"orderId {fields['orderId']} used by another request")
        return txn

    def _new(self, kind: str, status: str, fields: Mapping[str, str]) -> Txn:
        timeout = parse_beijing(fields.get("payTimeout", ""))
        return Txn(mer_id=fields["merId"], order_id=fields["orderId"], kind=kind, status=status,
                   txn_type=fields["txnType"], txn_sub_type=fields["txnSubType"], biz_type=fields["bizType"],
                   channel_type=fields.get("channelType", ""), access_type=fields["accessType"],
                   txn_time=fields["txnTime"], txn_amt=int(fields["txnAmt"]),
                   currency_code=fields.get("currencyCode") or CURRENCY, back_url=fields["backUrl"],
                   created_at=self.clock.now().isoformat(),
                   fingerprint={k: fields.get(k, "") for k in _FINGERPRINT},
                   front_url=fields.get("frontUrl") or None,
                   pay_timeout=timeout.isoformat() if timeout else None,
                   order_desc=fields.get("orderDesc") or None, req_reserved=fields.get("reqReserved") or None)

    def _numbers(self, txn: Txn) -> None:
        """Stamp the gateway's transaction number, trace number and times (business clock)."""
        now = self.clock.now()
        query_id = beijing(now, "%y%m%d%H%M%S") + digits(9)
        while self.store.txn_by_query_id(query_id) is not None:
            query_id = beijing(now, "%y%m%d%H%M%S") + digits(9)
        txn.query_id, txn.trace_no = query_id, digits(6)
        txn.trace_time, txn.settle_date = beijing(now, "%m%d%H%M%S"), settle_date(now)
        txn.traced_at = txn.completed_at = now.isoformat()

    # -- orders ------------------------------------------------------------------------------------------

    def create_qr(self, fields: Mapping[str, str], public_base: str) -> dict[str, str]:
        """申码: a QR order; the answer carries ``qrCode``, a link to the sandbox's scan-to-pay page."""
        with self.store.lock:
            earlier = self._earlier(fields)
            if earlier is not None:
                return earlier.answer
            txn = self._new(QR, UNPAID, fields)
            txn.qr_token = digits(24)
            while self.store.txn_by_qr_token(txn.qr_token) is not None:
                txn.qr_token = digits(24)
            txn.qr_code = f"{public_base}/qr/{txn.qr_token}"
            txn.answer = answer_fields(fields, protocol.OK, {"qrCode": txn.qr_code})
            self.store.save_txn(txn)
            return txn.answer

    def open_front(self, fields: Mapping[str, str]) -> Txn:
        """消费 from the gateway page: the order exists once its cashier page is shown. Reopening the page of
        an unpaid order shows it again; a paid or expired order's number is spent (12)."""
        with self.store.lock:
            earlier = self._earlier(fields)
            if earlier is not None:
                if earlier.status != UNPAID or self.expired(earlier):
                    raise GatewayError(protocol.DUPLICATE, "order already paid or expired")
                return earlier
            txn = self._new(FRONT, UNPAID, fields)
            txn.answer = answer_fields(fields, protocol.OK)
            self.store.save_txn(txn)
            return txn

    @staticmethod
    def expired(txn: Txn) -> bool:
        return txn.pay_timeout is not None and datetime.fromisoformat(txn.pay_timeout) <= real_now()

    def pay(self, mer_id: str, order_id: str) -> Txn:
        """The buyer pays an order. Raises PayRefused."""
        with self.store.lock:
            txn = self.store.txn(mer_id, order_id)
            if txn is None or txn.kind == REFUND:
                raise PayRefused("order_not_found")
            if txn.status == PAID:
                raise PayRefused("already_paid")
            if self.expired(txn):
                raise PayRefused("expired")
            self._numbers(txn)
            txn.status = PAID
            txn.acc_no = "6216" + "*" * 8 + digits(4)
            self.store.save_txn(txn)
            return txn

    # -- query -------------------------------------------------------------------------------------------

    def query(self, fields: Mapping[str, str]) -> dict[str, str]:
        """queryTrans: the original transaction named by ``orderId`` and ``txnTime`` (34 when there is
        none, or when it is an order nobody paid yet)."""
        txn = self.store.txn(fields["merId"], fields["orderId"])
        if txn is None or txn.txn_time != fields["txnTime"] or (txn.kind != REFUND and txn.status != PAID):
            raise GatewayError(protocol.NOT_FOUND, f"orderId {fields['orderId']} at {fields['txnTime']}")
        if txn.kind == REFUND:
            txn = self.settle(txn.mer_id, txn.order_id) or txn
        orig_code = ORIG_RESP[txn.status]
        extra = {"txnType": txn.txn_type, "txnSubType": txn.txn_sub_type,
                 "origRespCode": orig_code, "origRespMsg": protocol.resp_msg(orig_code),
                 "queryId": txn.query_id or "", "traceNo": txn.trace_no or "", "traceTime": txn.trace_time or "",
                 "txnAmt": str(txn.txn_amt), "settleAmt": str(txn.txn_amt), "settleCurrencyCode": CURRENCY,
                 "settleDate": txn.settle_date or "", "currencyCode": txn.currency_code}
        if txn.acc_no:
            extra.update(accNo=txn.acc_no, payCardType="01", payType="0001")
        if txn.orig_qry_id:
            extra["origQryId"] = txn.orig_qry_id
        return answer_fields(fields, protocol.OK, extra)

    # -- refunds -----------------------------------------------------------------------------------------

    def refund(self, fields: Mapping[str, str], fail: bool) -> tuple[dict[str, str], Txn | None]:
        """退货: (answer, the new refund — None for an identical resend). ``fail``: the ``refund_fail`` knob.

        Raises:
            GatewayError: 12 reused ``orderId``, 35 unknown or unpaid original, 33 more than is left.
        """
        amount = int(fields["txnAmt"])
        with self.store.lock:
            earlier = self._earlier(fields)
            if earlier is not None:
                return earlier.answer, None
            orig = self.store.txn_by_query_id(fields["origQryId"])
            if orig is None or orig.mer_id != fields["merId"] or orig.kind == REFUND or orig.status != PAID:
                raise GatewayError(protocol.ORIGINAL_INVALID, f"origQryId {fields['origQryId']}")
            if amount > orig.txn_amt - orig.refunded_fen:
                raise GatewayError(protocol.AMOUNT_LIMIT, f"{amount} > {orig.txn_amt - orig.refunded_fen} left")
            refund = self._new(REFUND, PROCESSING, fields)
            self._numbers(refund)
            refund.completed_at = None
            refund.orig_qry_id, refund.acc_no, refund.will_fail = orig.query_id, orig.acc_no, fail
            refund.settle_due = (real_now() + timedelta(seconds=REFUND_SETTLE_SECONDS / self.time_factor)).isoformat()
            refund.answer = answer_fields(fields, protocol.OK, {
                "queryId": refund.query_id or "", "origQryId": orig.query_id or "", "txnAmt": str(amount)})
            orig.refunded_fen += amount
            self.store.save_txn(orig)
            self.store.save_txn(refund)
            return refund.answer, refund

    @staticmethod
    def seconds_until_due(refund: Txn) -> float:
        if refund.settle_due is None:
            return 0.0
        return (datetime.fromisoformat(refund.settle_due) - real_now()).total_seconds()

    def settle(self, mer_id: str, order_id: str) -> Txn | None:
        """End a processing refund whose time has come; returns it as it is now (None if unknown). A refund
        that fails gives its amount back to the order; one that succeeds triggers ``refund_succeeded``."""
        with self.store.lock:
            refund = self.store.txn(mer_id, order_id)
            if refund is None or refund.status != PROCESSING or self.seconds_until_due(refund) > 0:
                return refund
            refund.status = FAILED if refund.will_fail else SUCCEEDED
            refund.completed_at = self.clock.now().isoformat()
            if refund.status == FAILED and refund.orig_qry_id:
                orig = self.store.txn_by_query_id(refund.orig_qry_id)
                if orig is not None:
                    orig.refunded_fen -= refund.txn_amt
                    self.store.save_txn(orig)
            self.store.save_txn(refund)
        if refund.status == SUCCEEDED:
            self.refund_succeeded(refund)
        return refund

