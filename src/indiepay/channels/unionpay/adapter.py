"""The UnionPay implementation of the channel port, for one UnionPay merchant account (acp 5.1.0).

What UnionPay does differently, absorbed here so the platform does not have to know:

* a transaction is named by ``orderId`` *and* ``txnTime`` (the Beijing second it was sent): a query with
  the right number but another time finds nothing. The order's time is the payment's ``created_at``
  (:attr:`PrepayRequest.opened_at`) and a refund's its own first request, so every retry and every query
  sends the same pair;
* a QR order (申码, ``txnSubType`` 07) exists as a transaction only once the buyer pays: until then a query
  answers ``34`` (no such transaction) → ``NOT_FOUND``;
* there is no close: an unpaid order simply cannot be paid after its ``payTimeout`` (the payment's expiry,
  sent with the order). Closing therefore asks the gateway whether the order was paid — paid → refused
  like any channel's "already paid"; otherwise it succeeds (a buyer who still pays before ``payTimeout``
  after an early close is the late payment the platform records and alerts, never loses);
* a refund (退货, ``txnType`` 04) names the paid order by UnionPay's own number (``origQryId``), is only
  *accepted* by the synchronous answer, and is settled by its notify or a query;
* the gateway payment (``unionpay_page``) is entered by the buyer's browser POSTing signed fields to the
  gateway's page: no server call is made to prepare it;
* the daily file is fetched per *clearing* day, which ends at 23:00 Beijing time (:mod:`.bills`);
* profit sharing is not offered through this adapter.
"""

from __future__ import annotations

from datetime import date, datetime

from indiepay.channels.base import (
    BillFile,
    ChannelAdapter,
    ChannelMethod,
    ChannelPayment,
    ChannelRefund,
    IncomingNotification,
    Notification,
    NotificationRejected,
    NotificationReply,
    PrepayRequest,
    PrepayResult,
    RefundRequest,
    RefundState,
    TerminalChannelError,
    TradeState,
    UnknownOutcomeError,
)
from indiepay.channels.unionpay import bills
from indiepay.channels.unionpay.client import (
    BACK_PATH,
    DUPLICATE,
    IN_PROGRESS,
    NO_SUCH_TRANSACTION,
    QUERY_PATH,
    SUCCESS,
    UnionpayClient,
    parse_trace_time,
    parse_txn_time,
    raise_for_resp,
    txn_time,
)
from indiepay.channels.unionpay.notify import parse_notify
from indiepay.channels.without_sharing import ProfitSharingNotOffered

ORDER_DESC_MAX = 32
# what the gateway's page calls the device: 07 a PC or tablet browser, 08 a phone
CHANNEL_PC, CHANNEL_MOBILE = "07", "08"
ORDER_PAID = "ORDER_PAID"  # our channel_code for "close refused: the buyer has paid"
SHARING_UNSUPPORTED = "SHARING_UNSUPPORTED"


def _opened(moment: datetime | None, what: str) -> str:
    if moment is None:
        raise TerminalChannelError(f"UnionPay needs the time the {what} was sent (txnTime)",
                                   channel_code="TXN_TIME_REQUIRED")
    return txn_time(moment)


class UnionpayAdapter(ProfitSharingNotOffered):
    """:class:`indiepay.channels.base.ChannelAdapter` over the UnionPay online gateway."""

    channel = "unionpay"

    def __init__(self, client: UnionpayClient, *, previous: UnionpayClient | None = None) -> None:
        self._client = client
        self._previous = previous  # a rotation's grace window: see parse_notification

    # --- payments ---------------------------------------------------------------------------------

    def prepay(self, request: PrepayRequest) -> PrepayResult:
        """Apply for a QR code (``unionpay_qr``) or sign the gateway page's form (``unionpay_page``).

        Raises:
            TerminalChannelError: not a UnionPay method, not CNY, no ``opened_at``, or refused.
            RetryableChannelError, UnknownOutcomeError: see :meth:`UnionpayClient.call`.
        """
        if request.currency != "CNY":
            raise TerminalChannelError(f"UnionPay collects CNY here, not {request.currency}")
        if request.amount < 1:
            raise TerminalChannelError("amount must be at least 1 fen")
        if request.profit_sharing:
            raise TerminalChannelError("UnionPay orders are not opened for profit sharing here",
                                       channel_code=SHARING_UNSUPPORTED)
        fields = {
            "txnType": "01", "currencyCode": "156", "orderId": request.out_trade_no,
            "txnTime": _opened(request.opened_at, "order"), "txnAmt": str(request.amount),
            "backUrl": request.notify_url, "payTimeout": txn_time(request.expires_at),
        }
        description = request.description.strip()[:ORDER_DESC_MAX]
        if description:
            fields["orderDesc"] = description
        if request.method == ChannelMethod.UNIONPAY_QR:
            fields.update(txnSubType="07", bizType="000000", channelType=CHANNEL_MOBILE)
            answer = self._client.call(BACK_PATH, fields, mutating=True)
            raise_for_resp(answer, mutating=True)
            qr_code = answer.get("qrCode")
            if not qr_code:
                raise UnknownOutcomeError("UnionPay 01/07: success without qrCode")
            return PrepayResult(action_type="qr_code", code_url=qr_code)
        if request.method == ChannelMethod.UNIONPAY_PAGE:
            fields.update(txnSubType="01", bizType="000201", channelType=CHANNEL_PC,
                          frontUrl=request.return_url or request.notify_url)
            return PrepayResult(action_type="form", url=self._client.front_url(),
                                form_fields=self._client.signed_fields(fields))
        raise TerminalChannelError(f"{request.method} is not a UnionPay method")

    def _query(self, order_id: str, sent_at: str) -> dict[str, str] | None:
        """The verified answer about one transaction, or None when UnionPay has none by that pair."""
        answer = self._client.call(QUERY_PATH, {"txnType": "00", "txnSubType": "00", "bizType": "000000",
                                                "orderId": order_id, "txnTime": sent_at}, mutating=False)
        if answer.get("respCode") == NO_SUCH_TRANSACTION:
            return None
        raise_for_resp(answer, mutating=False)
        return answer

    @staticmethod
    def _outcome(answer: dict[str, str]) -> tuple[str, int | None, datetime | None]:
        """The queried transaction's result — ``done``, ``in_progress`` or ``failed`` by its ``origRespCode``
        (00; 03/04/05; any other) — with its amount and when it happened (``traceTime``)."""
        original = answer.get("origRespCode", "")
        if not original:
            raise UnknownOutcomeError("UnionPay query: answer without origRespCode")
        outcome = "done" if original == SUCCESS else "in_progress" if original in IN_PROGRESS else "failed"
        amount = answer.get("txnAmt")
        happened = parse_trace_time(answer.get("traceTime"), parse_txn_time(answer.get("txnTime")))
        return outcome, int(amount) if amount and amount.isdigit() else None, happened

    def query_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> ChannelPayment:
        """``queryTrans`` with the order's number and time; ``34`` → ``NOT_FOUND`` (normal before paying).

        ``origRespCode`` 00 → SUCCEEDED; 03/04/05 → PENDING; any other → FAILED."""
        sent_at = _opened(opened_at, "order")
        answer = self._query(out_trade_no, sent_at)
        if answer is None:
            return ChannelPayment(out_trade_no=out_trade_no, state=TradeState.NOT_FOUND,
                                  raw_state=NO_SUCH_TRANSACTION)
        outcome, amount, happened = self._outcome(answer)
        state = {"done": TradeState.SUCCEEDED, "in_progress": TradeState.PENDING}.get(outcome, TradeState.FAILED)
        return ChannelPayment(
            out_trade_no=answer.get("orderId") or out_trade_no, state=state, raw_state=answer["origRespCode"],
            amount=amount,
            currency="CNY" if answer.get("currencyCode", "156") == "156" else answer.get("currencyCode"),
            channel_trade_no=answer.get("queryId") or None,
            paid_at=happened if state == TradeState.SUCCEEDED else None,
            payer_id=answer.get("accNo") or None,
        )

    def close_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> None:
        """No close at UnionPay: refused (``ORDER_PAID``) when the order was paid, otherwise done — the
        order dies at its ``payTimeout``."""
        current = self.query_payment(out_trade_no, opened_at=opened_at)
        if current.state in (TradeState.SUCCEEDED, TradeState.PENDING):
            raise TerminalChannelError(f"UnionPay order {out_trade_no} is {current.raw_state} (paid or paying)",
                                       channel_code=ORDER_PAID)

    # --- refunds ----------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> ChannelRefund:
        """退货 (``txnType`` 04) against the paid order's ``queryId``; accepted → PROCESSING.

        A resend of the same refund (same number and time) is answered as the first one was; ``12``
        (duplicate) means the number is already taken — the query then tells what became of it.
        """
        if request.currency != "CNY":
            raise TerminalChannelError(f"UnionPay refunds CNY here, not {request.currency}")
        original = request.channel_trade_no
        if not original:
            found = self.query_payment(request.out_trade_no, opened_at=request.opened_at)
            original = found.channel_trade_no if found.state == TradeState.SUCCEEDED else None
            if not original:
                raise TerminalChannelError(f"UnionPay order {request.out_trade_no} is not paid ({found.raw_state})",
                                           channel_code=found.raw_state or None)
        sent_at = _opened(request.requested_at, "refund")
        answer = self._client.call(BACK_PATH, {
            "txnType": "04", "txnSubType": "00", "bizType": "000201", "channelType": CHANNEL_PC,
            "orderId": request.out_refund_no, "txnTime": sent_at, "origQryId": original,
            "txnAmt": str(request.refund_amount), "backUrl": request.notify_url}, mutating=True)
        if answer.get("respCode") == DUPLICATE:
            found_refund = self.query_refund(request.out_trade_no, request.out_refund_no,
                                             requested_at=request.requested_at)
            if found_refund.state != RefundState.NOT_FOUND:
                return found_refund
        raise_for_resp(answer, mutating=True)
        return ChannelRefund(out_refund_no=request.out_refund_no, state=RefundState.PROCESSING,
                             raw_state=answer.get("respCode", ""), out_trade_no=request.out_trade_no,
                             amount=request.refund_amount, channel_refund_no=answer.get("queryId") or None)

    def query_refund(self, out_trade_no: str, out_refund_no: str, *,
                     requested_at: datetime | None = None) -> ChannelRefund:
        """``queryTrans`` on the refund's own number and time: 00 → SUCCEEDED, 03/04/05 → PROCESSING,
        34 → NOT_FOUND, anything else → FAILED."""
        sent_at = _opened(requested_at, "refund")
        answer = self._query(out_refund_no, sent_at)
        if answer is None:
            return ChannelRefund(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                 raw_state=NO_SUCH_TRANSACTION, out_trade_no=out_trade_no)
        outcome, amount, happened = self._outcome(answer)
        state = {"done": RefundState.SUCCEEDED, "in_progress": RefundState.PROCESSING}.get(outcome, RefundState.FAILED)
        return ChannelRefund(
            out_refund_no=out_refund_no, state=state, raw_state=answer["origRespCode"], out_trade_no=out_trade_no,
            amount=amount, channel_refund_no=answer.get("queryId") or None,
            succeeded_at=happened if state == RefundState.SUCCEEDED else None)

    # --- callbacks --------------------------------------------------------------------------------

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        """Verify a back notify for this account (see :mod:`.notify`). During a rotation's grace window a
        notify the current trust anchors reject is tried with the previous set."""
        try:
            return parse_notify(incoming, self._client)
        except NotificationRejected as rejected:
            if self._previous is None:
                raise
            try:
                notification = parse_notify(incoming, self._previous)
            except NotificationRejected:
                raise rejected from None
        return Notification(notification_id=notification.notification_id, event_type=notification.event_type,
                            payment=notification.payment, refund=notification.refund, raw=notification.raw,
                            credentials="previous")

    def carry_over(self, replaced: ChannelAdapter) -> None:
        """Nothing to take over: UnionPay's certificates are trusted through the chain, not fetched."""

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        """UnionPay stops resending on HTTP 200, whatever the body."""
        content_type = "text/plain; charset=utf-8"
        if accepted:
            return NotificationReply(status_code=200, body=b"ok", content_type=content_type)
        return NotificationReply(status_code=400, body=b"fail", content_type=content_type)

    # --- daily files ------------------------------------------------------------------------------

    def fetch_bill(self, kind: str, bill_date: date) -> BillFile:
        """The reconciliation file of the clearing day ``bill_date`` (:mod:`.bills`)."""
        return bills.fetch_bill(self._client, kind, bill_date)
