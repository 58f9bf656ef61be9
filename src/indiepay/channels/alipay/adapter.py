"""The Alipay implementation of the channel port, for one Alipay app (channel account).

Alipay differs from WeChat Pay in ways the platform must not have to know about, so they are absorbed
here:

* a QR order (``alipay.trade.precreate``) does not exist at Alipay until the buyer scans it, so a query
  answers ``ACQ.TRADE_NOT_EXIST`` (→ ``NOT_FOUND``) and a close of such an order succeeds silently;
* page and wap payments are not server calls at all: the buyer's browser is sent to a signed gateway URL;
* a refund is identified by ``out_request_no`` (our ``out_refund_no``) and reports ``fund_change`` ``Y``
  only on the call that moved money; a retry answers ``N`` and the refund query settles it;
* a full refund turns the trade into ``TRADE_CLOSED``; ``send_pay_date`` tells it was paid before;
* the daily bill is a zip of GBK CSVs behind a short-lived URL, and only the trade bill exists (:mod:`.bills`).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import bills, royalty
from indiepay.channels.alipay.client import AlipayClient, AlipayResponse, parse_timestamp, raise_for_code
from indiepay.channels.alipay.notify import AccountIdentity, parse_notify
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
from indiepay.channels.sharing import (
    ChannelReturn,
    ChannelSharing,
    ReturnRequest,
    SharingReceiver,
    SharingRequest,
)
from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.errors import InvalidRequest
from indiepay.core.money import fen_to_yuan, yuan_to_fen

TRADE_NOT_EXIST = "ACQ.TRADE_NOT_EXIST"
TRADE_STATUS_ERROR = "ACQ.TRADE_STATUS_ERROR"

_REDIRECT_METHODS = {
    ChannelMethod.ALIPAY_PAGE: ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"),
    ChannelMethod.ALIPAY_WAP: ("alipay.trade.wap.pay", "QUICK_WAP_WAY"),
}

TRADE_STATES = {
    "WAIT_BUYER_PAY": TradeState.PENDING,
    "TRADE_SUCCESS": TradeState.SUCCEEDED,
    "TRADE_FINISHED": TradeState.SUCCEEDED,
    "TRADE_CLOSED": TradeState.CLOSED,
}

SUBJECT_MAX = 256


def amount_fen(text: str | None, what: str) -> int | None:
    """A yuan string from the gateway as fen; a malformed one means we cannot trust the answer."""
    if text is None:
        return None
    try:
        return yuan_to_fen(text)
    except InvalidRequest as exc:
        raise UnknownOutcomeError(f"malformed {what} {text!r} from Alipay") from exc


class AlipayAdapter:
    """:class:`indiepay.channels.base.ChannelAdapter` over the Alipay OpenAPI."""

    channel = "alipay"

    def __init__(self, client: AlipayClient, *, seller_id: str, alipay_public_key: rsa.RSAPublicKey,
                 previous_identity: AccountIdentity | None = None) -> None:
        self._client = client
        self._identity = AccountIdentity(app_id=client.app_id, seller_id=seller_id,
                                         alipay_public_key=alipay_public_key)
        self._previous_identity = previous_identity  # a rotation's grace window: see parse_notification

    # --- payments ---------------------------------------------------------------------------------

    def prepay(self, request: PrepayRequest) -> PrepayResult:
        """Precreate a QR order, or build the signed page/wap redirect URL.

        Raises:
            TerminalChannelError: not an Alipay method, not CNY, bad amount, or the gateway refused it.
            RetryableChannelError, UnknownOutcomeError: see :meth:`AlipayClient.call`.
        """
        if request.currency != "CNY":
            raise TerminalChannelError(f"Alipay collects CNY only, not {request.currency}")
        if request.amount < 1:
            raise TerminalChannelError("amount must be at least 1 fen")
        biz: dict[str, Any] = {
            "out_trade_no": request.out_trade_no,
            "total_amount": fen_to_yuan(request.amount),
            "subject": request.description[:SUBJECT_MAX] or request.out_trade_no,
            "time_expire": request.expires_at.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S"),
        }
        if request.profit_sharing:
            biz["extend_params"] = {"royalty_freeze": "true"}
        if request.method == ChannelMethod.ALIPAY_QR:
            response = self._client.call("alipay.trade.precreate", biz, mutating=True,
                                         notify_url=request.notify_url)
            raise_for_code(response, mutating=True)
            qr_code = response.field("qr_code")
            if not qr_code:
                raise UnknownOutcomeError("alipay.trade.precreate: success without qr_code")
            return PrepayResult(action_type="qr_code", code_url=qr_code)
        if request.method in _REDIRECT_METHODS:
            method, product_code = _REDIRECT_METHODS[request.method]
            biz["product_code"] = product_code
            if request.method == ChannelMethod.ALIPAY_WAP and request.return_url:
                biz["quit_url"] = request.return_url
            url = self._client.redirect_url(method, biz, notify_url=request.notify_url,
                                            return_url=request.return_url)
            return PrepayResult(action_type="redirect", url=url)
        raise TerminalChannelError(f"{request.method} is not an Alipay method")

    def query_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> ChannelPayment:
        """``alipay.trade.query``; ``ACQ.TRADE_NOT_EXIST`` → ``NOT_FOUND`` (normal for an unscanned QR)."""
        response = self._client.call("alipay.trade.query", {"out_trade_no": out_trade_no}, mutating=False)
        if response.sub_code == TRADE_NOT_EXIST:
            return ChannelPayment(out_trade_no=out_trade_no, state=TradeState.NOT_FOUND,
                                  raw_state=TRADE_NOT_EXIST)
        raise_for_code(response, mutating=False)
        return payment_from_query(out_trade_no, response)

    def close_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> None:
        """``alipay.trade.close``: unknown trades close silently; paid ones raise ``ACQ.TRADE_STATUS_ERROR``.

        Alipay answers ``ACQ.TRADE_STATUS_ERROR`` for a trade that is already closed too, so that answer
        is disambiguated with a query: closed and never paid counts as success.
        """
        response = self._client.call("alipay.trade.close", {"out_trade_no": out_trade_no}, mutating=True)
        if response.ok or response.sub_code == TRADE_NOT_EXIST:
            return
        if response.sub_code == TRADE_STATUS_ERROR:
            current = self.query_payment(out_trade_no)
            if current.state in (TradeState.CLOSED, TradeState.NOT_FOUND):
                return
            raise TerminalChannelError(f"alipay.trade.close: trade is {current.raw_state}",
                                       channel_code=TRADE_STATUS_ERROR)
        raise_for_code(response, mutating=True)

    # --- refunds ----------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> ChannelRefund:
        """``alipay.trade.refund`` with ``out_request_no`` = ``out_refund_no``.

        ``fund_change`` ``Y`` means this call refunded the money; otherwise (a retry of a refund that
        already happened, or one still in progress) the refund query decides.
        """
        if request.currency != "CNY":
            raise TerminalChannelError(f"Alipay refunds CNY only, not {request.currency}")
        biz: dict[str, Any] = {
            "out_trade_no": request.out_trade_no,
            "refund_amount": fen_to_yuan(request.refund_amount),
            "out_request_no": request.out_refund_no,
        }
        if request.reason:
            biz["refund_reason"] = request.reason[:256]
        response = self._client.call("alipay.trade.refund", biz, mutating=True)
        raise_for_code(response, mutating=True)
        if response.field("fund_change") == "Y":
            return ChannelRefund(
                out_refund_no=request.out_refund_no, state=RefundState.SUCCEEDED, raw_state="fund_change=Y",
                out_trade_no=request.out_trade_no, amount=request.refund_amount,
                channel_refund_no=response.field("trade_no"),
                succeeded_at=parse_timestamp(response.field("gmt_refund_pay")),
            )
        found = self.query_refund(request.out_trade_no, request.out_refund_no)
        if found.state == RefundState.NOT_FOUND:
            return ChannelRefund(out_refund_no=request.out_refund_no, state=RefundState.PROCESSING,
                                 raw_state="fund_change=N", out_trade_no=request.out_trade_no,
                                 amount=request.refund_amount)
        return found

    def query_refund(self, out_trade_no: str, out_refund_no: str, *,
                     requested_at: datetime | None = None) -> ChannelRefund:
        """``alipay.trade.fastpay.refund.query``.

        ``refund_status`` REFUND_SUCCESS → SUCCEEDED. Alipay documents that a returned refund record
        *without* ``refund_status`` also means success (older apps); no record at all → NOT_FOUND.
        """
        biz = {"out_trade_no": out_trade_no, "out_request_no": out_refund_no,
               "query_options": ["gmt_refund_pay"]}
        response = self._client.call("alipay.trade.fastpay.refund.query", biz, mutating=False)
        if response.sub_code == TRADE_NOT_EXIST:
            return ChannelRefund(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                 raw_state=TRADE_NOT_EXIST, out_trade_no=out_trade_no)
        raise_for_code(response, mutating=False)
        status = response.field("refund_status")
        refund_amount = amount_fen(response.field("refund_amount"), "refund_amount")
        if status is None and refund_amount is None:
            return ChannelRefund(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND, raw_state="",
                                 out_trade_no=out_trade_no)
        state = RefundState.SUCCEEDED if status in (None, "REFUND_SUCCESS") else RefundState.PROCESSING
        return ChannelRefund(out_refund_no=out_refund_no, state=state, raw_state=status or "",
                             out_trade_no=response.field("out_trade_no") or out_trade_no,
                             amount=refund_amount,
                             channel_refund_no=response.field("trade_no"),
                             succeeded_at=parse_timestamp(response.field("gmt_refund_pay")))

    # --- callbacks --------------------------------------------------------------------------------

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        """Verify an async notify addressed to this app. Raises NotificationRejected.

        During a rotation's grace window a notify the current Alipay public key rejects is tried with the
        previous one (Alipay resends the form it signed before the key change); success through it is
        marked ``credentials="previous"``. When both fail, the current rejection is raised.
        """
        try:
            return parse_notify(incoming, self._identity)
        except NotificationRejected as rejected:
            if self._previous_identity is None:
                raise
            try:
                notification = parse_notify(incoming, self._previous_identity)
            except NotificationRejected:
                raise rejected from None
        return replace(notification, credentials="previous")

    def carry_over(self, replaced: ChannelAdapter) -> None:
        """Nothing to take over: an Alipay app's keys all come with its credentials."""

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        """Alipay stops retrying only on the literal text ``success``."""
        content_type = "text/plain; charset=utf-8"
        if accepted:
            return NotificationReply(status_code=200, body=b"success", content_type=content_type)
        return NotificationReply(status_code=400, body=b"fail", content_type=content_type)

    # --- bills ------------------------------------------------------------------------------------

    def fetch_bill(self, kind: str, bill_date: date) -> BillFile:
        """The trade bill zip of ``bill_date`` (``bill.downloadurl.query``, then the unsigned download).

        Raises:
            BillKindUnsupported: any ``kind`` but ``trade``.
            BillNotReady: ``isp.bill_not_exist`` (retry later).
            RetryableChannelError: the download failed or was not a zip (query again).
            TerminalChannelError, UnknownOutcomeError: see :meth:`AlipayClient.call`.
        """
        return bills.fetch_bill(self._client, kind, bill_date)

    # --- profit sharing (see .royalty) ------------------------------------------------------------

    def add_sharing_receiver(self, receiver: SharingReceiver) -> None:
        royalty.bind(self._client, receiver)

    def remove_sharing_receiver(self, receiver: SharingReceiver) -> None:
        royalty.unbind(self._client, receiver)

    def share(self, request: SharingRequest) -> ChannelSharing:
        return royalty.settle(self._client, request)

    def query_sharing(self, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
        return royalty.query(self._client, channel_trade_no, out_order_no)

    def return_share(self, request: ReturnRequest) -> ChannelReturn:
        return royalty.no_returns(request)

    def query_share_return(self, out_order_no: str, out_return_no: str) -> ChannelReturn:
        return royalty.no_returns(out_return_no)

    def unsplit_amount(self, channel_trade_no: str) -> int:
        return royalty.unsettled_amount(self._client, channel_trade_no)


def payment_from_query(out_trade_no: str, response: AlipayResponse) -> ChannelPayment:
    """Map an ``alipay.trade.query`` success to the neutral payment view."""
    raw_state = response.field("trade_status") or ""
    state = TRADE_STATES.get(raw_state)
    if state is None:
        raise UnknownOutcomeError(f"alipay.trade.query: unknown trade_status {raw_state!r}",
                                  channel_code=raw_state or None)
    paid_at = parse_timestamp(response.field("send_pay_date"))
    if state == TradeState.CLOSED and paid_at is not None:
        state = TradeState.SUCCEEDED  # fully refunded: it was paid, the refunds say the rest
    return ChannelPayment(
        out_trade_no=response.field("out_trade_no") or out_trade_no,
        state=state,
        raw_state=raw_state,
        amount=amount_fen(response.field("total_amount"), "total_amount"),
        currency="CNY",
        channel_trade_no=response.field("trade_no"),
        paid_at=paid_at if state == TradeState.SUCCEEDED else None,
        payer_id=response.field("buyer_user_id") or response.field("buyer_open_id"),
    )
