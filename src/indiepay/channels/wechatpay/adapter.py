"""WeChat Pay v3 behind the channel port: one instance per merchant account.

The adapter turns the platform's neutral requests into v3 calls (native / jsapi / h5 prepay, query,
close, refund, refund query) and the answers back into neutral results. It owns the *meaning* of gateway
answers: "the order does not exist" is a state (NOT_FOUND) for a query and a no-op for a close, not an
error. Transport and signature concerns live in :mod:`.client`; callback verification in :mod:`.notify`;
daily bills in :mod:`.bills`.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from typing import Any
from urllib.parse import quote

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
from indiepay.channels.wechatpay import bills, notify, profitsharing, signing
from indiepay.channels.wechatpay.client import WechatPayClient
from indiepay.channels.wechatpay.states import format_time, payment_from_wechat, refund_from_wechat
from indiepay.core.clock import Clock

_PREPAY_KINDS = {
    ChannelMethod.WECHAT_NATIVE: "native",
    ChannelMethod.WECHAT_JSAPI: "jsapi",
    ChannelMethod.WECHAT_H5: "h5",
}


class WechatPayAdapter:
    """Implements :class:`indiepay.channels.base.ChannelAdapter` for one WeChat Pay merchant account."""

    channel = "wechatpay"

    def __init__(self, client: WechatPayClient, *, appid: str, clock: Clock,
                 previous_verifier: notify.NotificationVerifier | None = None) -> None:
        self.client = client
        self.appid = appid
        self._clock = clock
        self.verifier = notify.NotificationVerifier(keys=client.keys, apiv3_key=client.apiv3_key, clock=clock,
                                                    mchid=client.mchid, appid=appid)
        # the credentials a rotation replaced, for callbacks WeChat encrypted before the change
        self.previous_verifier = previous_verifier

    @property
    def mchid(self) -> str:
        return self.client.mchid

    # -- payments -----------------------------------------------------------------------------------

    def prepay(self, request: PrepayRequest) -> PrepayResult:
        """Open a native (QR), jsapi (in-WeChat) or h5 (mobile browser) order.

        Raises:
            TerminalChannelError: unsupported method/currency, missing openid (jsapi) or client IP (h5),
                or a 4xx from the gateway (PARAM_ERROR, INVALID_REQUEST for a reused out_trade_no, ...).
            RetryableChannelError, UnknownOutcomeError: see :mod:`.client`.
        """
        kind = _PREPAY_KINDS.get(request.method)
        if kind is None:
            raise TerminalChannelError(f"WeChat Pay cannot serve {request.method}",
                                       channel_code="UNSUPPORTED_METHOD")
        if request.currency != "CNY":
            raise TerminalChannelError("WeChat Pay direct merchants take CNY only",
                                       channel_code="PARAM_ERROR")
        body: dict[str, Any] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "description": request.description[:127],
            "out_trade_no": request.out_trade_no,
            "time_expire": format_time(request.expires_at),
            "notify_url": request.notify_url,
            "amount": {"total": request.amount, "currency": request.currency},
        }
        if kind == "jsapi":
            if not request.payer_openid:
                raise TerminalChannelError("jsapi needs the payer's openid", channel_code="PARAM_ERROR")
            body["payer"] = {"openid": request.payer_openid}
        if kind == "h5":
            if not request.client_ip:
                raise TerminalChannelError("h5 needs the payer's client IP", channel_code="PARAM_ERROR")
            body["scene_info"] = {"payer_client_ip": request.client_ip, "h5_info": {"type": "Wap"}}
        if request.profit_sharing:
            body["settle_info"] = {"profit_sharing": True}
        data = self.client.call("POST", f"/v3/pay/transactions/{kind}", body=body, mutating=True).data
        if kind == "native":
            return PrepayResult(action_type="qr_code", code_url=_required(data, "code_url"))
        if kind == "h5":
            return PrepayResult(action_type="redirect", url=_required(data, "h5_url"))
        return PrepayResult(action_type="jsapi", jsapi_params=self.jsapi_params(_required(data, "prepay_id")))

    def jsapi_params(self, prepay_id: str) -> dict[str, str]:
        """The object handed to ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``, signed."""
        timestamp = str(int(self._clock.now().timestamp()))
        nonce = signing.new_nonce()
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": f"prepay_id={prepay_id}",
            "signType": "RSA",
            "paySign": signing.jsapi_pay_sign(self.client.private_key, self.appid, timestamp, nonce,
                                              prepay_id),
        }

    def query_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> ChannelPayment:
        """The order's state; NOT_FOUND when WeChat answers 404 ORDER_NOT_EXIST."""
        try:
            data = self.client.call("GET", f"/v3/pay/transactions/out-trade-no/{_segment(out_trade_no)}",
                                    query={"mchid": self.mchid}, mutating=False).data
        except TerminalChannelError as exc:
            if exc.channel_code == "ORDER_NOT_EXIST":
                return ChannelPayment(out_trade_no=out_trade_no, state=TradeState.NOT_FOUND,
                                      raw_state="ORDER_NOT_EXIST")
            raise
        return payment_from_wechat(data)

    def close_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> None:
        """Close an unpaid order (204). Raises TerminalChannelError ``ORDERPAID`` if it was paid."""
        try:
            self.client.call("POST", f"/v3/pay/transactions/out-trade-no/{_segment(out_trade_no)}/close",
                             body={"mchid": self.mchid}, mutating=True)
        except TerminalChannelError as exc:
            if exc.channel_code == "ORDER_NOT_EXIST":
                return
            raise

    # -- refunds ------------------------------------------------------------------------------------

    def refund(self, request: RefundRequest) -> ChannelRefund:
        """Ask for a (partial) refund; WeChat deduplicates by ``out_refund_no``."""
        body: dict[str, Any] = {
            "out_trade_no": request.out_trade_no,
            "out_refund_no": request.out_refund_no,
            "notify_url": request.notify_url,
            "amount": {"refund": request.refund_amount, "total": request.total_amount,
                       "currency": request.currency},
        }
        if request.reason:
            body["reason"] = request.reason[:80]
        data = self.client.call("POST", "/v3/refund/domestic/refunds", body=body, mutating=True).data
        return refund_from_wechat(data)

    def query_refund(self, out_trade_no: str, out_refund_no: str, *,
                     requested_at: datetime | None = None) -> ChannelRefund:
        """The refund's state; NOT_FOUND when WeChat answers 404 RESOURCE_NOT_EXISTS."""
        try:
            data = self.client.call("GET", f"/v3/refund/domestic/refunds/{_segment(out_refund_no)}",
                                    mutating=False).data
        except TerminalChannelError as exc:
            if exc.http_status == 404:
                return ChannelRefund(out_refund_no=out_refund_no, state=RefundState.NOT_FOUND,
                                     raw_state=exc.channel_code or "RESOURCE_NOT_EXISTS",
                                     out_trade_no=out_trade_no)
            raise
        return refund_from_wechat(data)

    # -- callbacks ----------------------------------------------------------------------------------

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        """Verify, decrypt and decode a callback for this account. Raises NotificationRejected.

        A callback the current credentials reject is tried with the previous ones, when the adapter holds
        them (a rotation's grace window): WeChat resends the body it built — encrypted under the APIv3 key
        of that moment — for ~24 h. Every check applies to both attempts; the current rejection is raised
        when both fail, and a success through the previous set is marked ``credentials="previous"``.
        """
        try:
            return notify.to_notification(self.verifier.verify(incoming))
        except NotificationRejected as rejected:
            if self.previous_verifier is None or rejected.channel_code in notify.NOT_KEY_RELATED:
                raise
            try:
                verified = self.previous_verifier.verify(incoming)
            except NotificationRejected:
                raise rejected from None
        return replace(notify.to_notification(verified), credentials="previous")

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        return notify.notification_reply(accepted, message)

    def carry_over(self, replaced: ChannelAdapter) -> None:
        """Trust the platform certificates the replaced adapter fetched for the same mchid and gateway: they
        are WeChat's keys, which a rotation of the merchant's credentials does not change."""
        if (isinstance(replaced, WechatPayAdapter) and replaced.mchid == self.mchid
                and replaced.client.base_url == self.client.base_url):
            for serial, key in replaced.client.keys.certificates().items():
                self.client.keys.add_certificate(serial, key)

    # -- bills --------------------------------------------------------------------------------------

    def fetch_bill(self, kind: str, bill_date: date) -> BillFile:
        """The ALL trade bill or the BASIC fund-flow bill of ``bill_date``, uncompressed and SHA1-checked.

        Raises:
            BillNotReady: ``NO_STATEMENT_EXIST`` / ``STATEMENT_CREATING`` (retry later).
            BillHashMismatch: the download does not hash to the announced ``hash_value``.
            BillKindUnsupported: ``kind`` is not ``trade`` / ``fundflow``.
            TerminalChannelError, RetryableChannelError, UnknownOutcomeError: see :mod:`.client`.
        """
        return bills.fetch_bill(self.client, kind, bill_date)

    # -- profit sharing (see .profitsharing) ------------------------------------------------------------

    def add_sharing_receiver(self, receiver: SharingReceiver) -> None:
        profitsharing.add_receiver(self.client, self.appid, receiver)

    def remove_sharing_receiver(self, receiver: SharingReceiver) -> None:
        profitsharing.remove_receiver(self.client, self.appid, receiver)

    def share(self, request: SharingRequest) -> ChannelSharing:
        return profitsharing.share(self.client, self.appid, request)

    def query_sharing(self, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
        return profitsharing.query(self.client, channel_trade_no, out_order_no)

    def return_share(self, request: ReturnRequest) -> ChannelReturn:
        return profitsharing.return_share(self.client, request)

    def query_share_return(self, out_order_no: str, out_return_no: str) -> ChannelReturn:
        return profitsharing.query_return(self.client, out_order_no, out_return_no)

    def unsplit_amount(self, channel_trade_no: str) -> int:
        return profitsharing.unsplit_amount(self.client, channel_trade_no)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _required(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise UnknownOutcomeError(f"WeChat Pay answer lacks {name}")
    return value

