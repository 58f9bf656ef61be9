"""The channel port: what the platform needs from any payment channel, in channel-neutral terms.

Services talk only to :class:`ChannelAdapter`; each channel package (``wechatpay/``, ``alipay/``)
implements it over the real wire protocol. An adapter instance is built per channel account from that
account's own decrypted credentials (see :mod:`indiepay.channels.registry`) and its own base URL, so the
same code reaches production or the sandbox. Amounts are integer fen; conversion to yuan strings happens
inside the channel package. Vendor errors are translated at the boundary into the :class:`ChannelError`
tree, which keeps the gateway's raw code and message.

Daily bills come through the same port (:meth:`ChannelAdapter.fetch_bill`) as a :class:`BillFile` of the
channel's own bytes: parsing them is the reconciliation layer's business, not the channel's, so the port
stays free of bill formats. A bill the channel has not published yet is a :class:`BillNotReady` (retry
later), a download that does not match the channel's announced digest a :class:`BillHashMismatch`
(reject and alert: never reconcile against a file the channel did not vouch for).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Protocol

from indiepay.channels.sharing import (
    ChannelReturn,
    ChannelSharing,
    ReturnRequest,
    SharingReceiver,
    SharingRequest,
)


class ChannelMethod(StrEnum):
    """How the buyer pays; the prefix names the channel that serves it."""

    WECHAT_NATIVE = "wechat_native"
    WECHAT_JSAPI = "wechat_jsapi"
    WECHAT_H5 = "wechat_h5"
    ALIPAY_QR = "alipay_qr"
    ALIPAY_PAGE = "alipay_page"
    ALIPAY_WAP = "alipay_wap"
    UNIONPAY_QR = "unionpay_qr"
    UNIONPAY_PAGE = "unionpay_page"
    BANK_TRANSFER = "bank_transfer"

    @property
    def channel(self) -> str:
        return _CHANNEL_OF_PREFIX[self.value.split("_", 1)[0]]


_CHANNEL_OF_PREFIX = {"wechat": "wechatpay", "alipay": "alipay", "unionpay": "unionpay", "bank": "bank_transfer"}


class BillKind(StrEnum):
    """Which daily bill: ``trade`` (orders and refunds; WeChat tradebill, Alipay ``bill_type=trade``) or
    ``fundflow`` (money through the account; WeChat fundflowbill, BASIC account — Alipay has none here)."""

    TRADE = "trade"
    FUNDFLOW = "fundflow"


class TradeState(StrEnum):
    """A channel's view of a payment, mapped to neutral states.

    WeChat: NOTPAY/USERPAYING → PENDING; SUCCESS/REFUND → SUCCEEDED; CLOSED/REVOKED → CLOSED;
    PAYERROR → FAILED. Alipay: WAIT_BUYER_PAY → PENDING; TRADE_SUCCESS/TRADE_FINISHED → SUCCEEDED;
    TRADE_CLOSED → CLOSED (also after a full refund: the adapter reports SUCCEEDED if it was ever paid
    and the channel says so, e.g. via ``send_pay_date``; otherwise CLOSED). ``NOT_FOUND``: the channel has
    no such order (WeChat ORDER_NOT_EXIST, Alipay ACQ.TRADE_NOT_EXIST) — for Alipay QR orders this is
    normal until the buyer scans.
    """

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CLOSED = "closed"
    FAILED = "failed"
    NOT_FOUND = "not_found"


class RefundState(StrEnum):
    """WeChat SUCCESS → SUCCEEDED, PROCESSING → PROCESSING, CLOSED → FAILED, ABNORMAL → ABNORMAL.
    Alipay: refund query with ``refund_status`` REFUND_SUCCESS (or a fund change ``Y`` on refund) →
    SUCCEEDED; no record → NOT_FOUND."""

    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"
    # the money has left the merchant's account but the buyer's bank refused it (a closed or frozen card):
    # not a failure — it waits for the merchant to send it on by hand at the channel (WeChat Pay's merchant
    # platform), after which the channel reports SUCCESS
    ABNORMAL = "abnormal"


@dataclass(frozen=True)
class PrepayRequest:
    """Everything needed to open an order at the channel."""

    method: ChannelMethod
    out_trade_no: str
    amount: int
    currency: str
    description: str
    notify_url: str
    expires_at: datetime
    payer_openid: str | None = None
    client_ip: str | None = None
    return_url: str | None = None
    # open the order for profit sharing (WeChat settle_info.profit_sharing, Alipay royalty_freeze): the
    # channel holds the money frozen until it is shared or unfrozen (see indiepay.channels.sharing)
    profit_sharing: bool = False
    # when the platform opened the order (the payment's created_at). UnionPay names an order by its number
    # *and* the time it was sent (txnTime), so the same instant must come back on every query and refund
    opened_at: datetime | None = None


@dataclass(frozen=True)
class PrepayResult:
    """What to show the buyer.

    ``action_type`` is ``"qr_code"`` (``code_url`` set: WeChat native ``code_url`` or Alipay precreate
    ``qr_code``, UnionPay ``qrCode``), ``"redirect"`` (``url`` set: WeChat ``h5_url``, or the signed Alipay
    page/wap URL), ``"jsapi"`` (``jsapi_params`` set: appId, timeStamp, nonceStr, package, signType,
    paySign) or ``"form"`` (``url`` and ``form_fields`` set: the signed fields the buyer's browser POSTs
    to the channel's page — UnionPay's gateway payment is entered by a form post, not by a link) or
    ``"bank_transfer"`` (``transfer`` set: bank_name, account_name, account_number, optional branch, the
    reference code to write in the memo and the amount in fen).
    """

    action_type: str
    code_url: str | None = None
    url: str | None = None
    jsapi_params: Mapping[str, str] | None = None
    form_fields: Mapping[str, str] | None = None
    transfer: Mapping[str, str] | None = None


@dataclass(frozen=True)
class ChannelPayment:
    """The channel's answer about one order (from a query or a callback)."""

    out_trade_no: str
    state: TradeState
    raw_state: str
    amount: int | None = None
    currency: str | None = None
    channel_trade_no: str | None = None
    paid_at: datetime | None = None
    payer_id: str | None = None


@dataclass(frozen=True)
class RefundRequest:
    out_trade_no: str
    out_refund_no: str
    refund_amount: int
    total_amount: int
    currency: str
    reason: str | None
    notify_url: str
    # what a channel that names transactions by number *and* send time (UnionPay) needs: the paid order's
    # channel number and when it was opened, and when this refund was first requested (its own txnTime,
    # the same on every retry)
    channel_trade_no: str | None = None
    opened_at: datetime | None = None
    requested_at: datetime | None = None


@dataclass(frozen=True)
class ChannelRefund:
    """The channel's answer about one refund (from create, query or a callback)."""

    out_refund_no: str
    state: RefundState
    raw_state: str
    out_trade_no: str | None = None
    amount: int | None = None
    channel_refund_no: str | None = None
    succeeded_at: datetime | None = None


@dataclass(frozen=True)
class IncomingNotification:
    """A callback exactly as received: headers (lower-case names) and the raw body bytes."""

    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Notification:
    """A verified, decrypted callback. Exactly one of ``payment`` / ``refund`` is set.

    The adapter has already checked the signature, the time window and that the callback names *this*
    account (WeChat ``mchid``/``appid``, Alipay ``app_id``/``seller_id``); the service still checks
    ``out_trade_no``, amount and currency against its own payment.
    """

    notification_id: str
    event_type: str
    payment: ChannelPayment | None = None
    refund: ChannelRefund | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    # which credential set verified it: "current", or "previous" (the set a rotation replaced, still
    # accepted for callbacks the channel queued before the merchant changed its keys)
    credentials: str = "current"


@dataclass(frozen=True)
class NotificationReply:
    """What to answer the channel: WeChat 204 / 4xx JSON, Alipay the literal text ``success``."""

    status_code: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class BillFile:
    """One downloaded daily bill, exactly as the channel published it.

    ``content`` is the *uncompressed* CSV for WeChat Pay (the bytes its ``hash_value`` covers) and the zip
    archive for Alipay (GBK CSVs inside); the parsers in ``indiepay.reconciliation.parsers`` read both.
    ``sha1`` is the lower-case hex SHA1 of ``content``: for WeChat Pay the digest the channel announced
    and the content was checked against, for Alipay (which announces none) computed on download. It is
    ``None`` only for files that did not come from a channel (hand imports may leave it to the caller).
    ``bill_date`` is the Asia/Shanghai business day the bill covers. ``content_gz``: the download itself
    when the channel sent it gzip-compressed (WeChat Pay), kept so that it is stored as it came rather
    than compressed again.
    """

    channel: str
    kind: str
    bill_date: date
    content: bytes
    sha1: str | None
    content_gz: bytes | None = None


class ChannelError(Exception):
    """A channel call did not give the answer we wanted. Keeps the gateway's raw code and message.

    ``code`` is a stable, channel-neutral name for the kind of failure (subclasses refine it); the
    gateway's own code stays in ``channel_code``.
    """

    code: str = "channel_error"

    def __init__(self, message: str, *, channel_code: str | None = None, http_status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.channel_code = channel_code
        self.http_status = http_status


class RetryableChannelError(ChannelError):
    """Definitely not carried out (e.g. 429 FREQUENCY_LIMITED, a refused connection): safe to retry."""


class TerminalChannelError(ChannelError):
    """Definitely not carried out and retrying will not help (PARAM_ERROR, NO_AUTH, 40002, ...)."""


class BillNotReady(RetryableChannelError):
    """The channel has not published the bill for that day yet (WeChat ``NO_STATEMENT_EXIST`` /
    ``STATEMENT_CREATING``, Alipay ``isp.bill_not_exist``): ask again later. WeChat also answers
    ``NO_STATEMENT_EXIST`` for a day without a single successful trade, so a caller that still gets it well
    after the publishing hour may treat the day as empty; ``channel_code`` tells the two answers apart."""

    code = "bill_not_ready"

    @property
    def may_mean_no_trades(self) -> bool:
        """Whether the answer is also what the channel says for a day without a single trade."""
        return self.channel_code == "NO_STATEMENT_EXIST"


class BillHashMismatch(TerminalChannelError):
    """The downloaded bill is not the file the channel announced (SHA1 of the uncompressed content differs
    from ``hash_value``, or the archive does not even decompress). Reject it and alert; never reconcile."""

    code = "bill_hash_mismatch"


class BillKindUnsupported(TerminalChannelError):
    """The channel publishes no bill of that kind (Alipay has no ``fundflow`` bill through this API)."""

    code = "bill_kind_unsupported"


class UnknownOutcomeError(ChannelError):
    """The request may or may not have taken effect (timeout, 5xx, broken response): query to learn."""


class NotificationRejected(ChannelError):
    """A callback that failed verification, fell outside the time window, was a SIGNTEST probe, or names
    another merchant: nothing may change because of it."""


class ChannelAdapter(Protocol):
    """One channel account's view of its channel. All methods are synchronous and thread-safe."""

    channel: str

    def prepay(self, request: PrepayRequest) -> PrepayResult:
        """Open the order (WeChat native/jsapi/h5; Alipay precreate, or build the signed page/wap URL).

        Raises: TerminalChannelError, RetryableChannelError, UnknownOutcomeError."""
        ...

    def query_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> ChannelPayment:
        """Ask the channel for the order's state (NOT_FOUND when the channel has no such order).
        ``opened_at`` is :attr:`PrepayRequest.opened_at` of the order (UnionPay needs it to find it)."""
        ...

    def close_payment(self, out_trade_no: str, *, opened_at: datetime | None = None) -> None:
        """Close an unpaid order at the channel. Closing an order the channel does not know (Alipay QR
        not yet scanned) succeeds silently. Raises TerminalChannelError with ``channel_code`` e.g.
        ``ORDERPAID`` / ``ACQ.TRADE_STATUS_ERROR`` when the order is already paid."""
        ...

    def refund(self, request: RefundRequest) -> ChannelRefund:
        """Request a (partial) refund; the same ``out_refund_no`` is reused on every retry."""
        ...

    def query_refund(self, out_trade_no: str, out_refund_no: str, *,
                     requested_at: datetime | None = None) -> ChannelRefund:
        """Ask for a refund's state (``requested_at`` as in :attr:`RefundRequest.requested_at`)."""
        ...

    def parse_notification(self, incoming: IncomingNotification) -> Notification:
        """Verify and decode a callback addressed to this account. Raises NotificationRejected."""
        ...

    def carry_over(self, replaced: ChannelAdapter) -> None:
        """Take over what ``replaced`` — the same account's adapter before its credentials changed — learnt
        from the channel that is not a credential (WeChat Pay's platform certificates), so a rotation does
        not cost a re-fetch. Anything that does not fit (another merchant account, gateway) is ignored."""
        ...

    def fetch_bill(self, kind: str, bill_date: date) -> BillFile:
        """Download the channel's bill of ``kind`` (:class:`BillKind`) for one Asia/Shanghai business day.

        Raises:
            BillNotReady: not published yet (retry later).
            BillHashMismatch: the download does not match the channel's announced digest.
            BillKindUnsupported: the channel has no bill of that kind.
            TerminalChannelError, RetryableChannelError, UnknownOutcomeError: as for any call.
        """
        ...

    def notification_reply(self, accepted: bool, message: str = "") -> NotificationReply:
        """The channel-specific answer to a callback (accepted → the channel stops retrying)."""
        ...

    # -- profit sharing (see indiepay.channels.sharing) ------------------------------------------------

    def add_sharing_receiver(self, receiver: SharingReceiver) -> None:
        """Declare a receiver to the channel (idempotent). Raises TerminalChannelError when the channel
        refuses it (wrong name, malformed account, another channel's receiver type)."""
        ...

    def remove_sharing_receiver(self, receiver: SharingReceiver) -> None:
        """Withdraw a receiver (idempotent): later shares to it are refused by the channel."""
        ...

    def share(self, request: SharingRequest) -> ChannelSharing:
        """Ask the channel to share a paid order (and/or unfreeze the rest); the same ``out_order_no`` on
        a retry returns the order already made. Raises the usual channel errors."""
        ...

    def query_sharing(self, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
        """The sharing order's state (NOT_FOUND when the channel has none by that number)."""
        ...

    def return_share(self, request: ReturnRequest) -> ChannelReturn:
        """Take a share back from a merchant receiver. Raises TerminalChannelError
        (``channel_code`` ``RETURN_UNSUPPORTED``) on a channel without returns."""
        ...

    def query_share_return(self, out_order_no: str, out_return_no: str) -> ChannelReturn:
        """A return's state (NOT_FOUND when unknown)."""
        ...

    def unsplit_amount(self, channel_trade_no: str) -> int:
        """What of the order is still frozen for sharing, in fen."""
        ...
