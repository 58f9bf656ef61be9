"""Profit sharing (分账) through the channel port, in channel-neutral terms.

A merchant collecting *independently* can send part of a paid order to its distributors straight from
the channel: WeChat Pay's ``/v3/profitsharing/*`` and Alipay's ``alipay.trade.order.settle``. Both need
the order opened for it (WeChat ``settle_info.profit_sharing``, Alipay ``extend_params.royalty_freeze``:
the money stays frozen at the channel until it is shared or unfrozen), both need each receiver declared
to the channel first (WeChat ``receivers/add``, Alipay ``royalty.relation.bind``), and both end with the
rest of the order unfrozen to the merchant ("finish"). These types carry that, amounts in fen; the
channel packages translate to and from the wire.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReceiverType(StrEnum):
    """Who receives a share, as the channel names them; the prefix is the channel.

    WeChat Pay: ``MERCHANT_ID`` (another merchant number; needs its full legal name) and
    ``PERSONAL_OPENID`` (a person by openid under the merchant's appid). Alipay: ``userId`` (2088…),
    ``loginName`` (the e-mail or mobile number used to log in) and ``openId``.
    """

    WECHAT_MERCHANT = "wechat_merchant"
    WECHAT_OPENID = "wechat_openid"
    ALIPAY_USER_ID = "alipay_user_id"
    ALIPAY_LOGIN_NAME = "alipay_login_name"
    ALIPAY_OPEN_ID = "alipay_open_id"

    @property
    def channel(self) -> str:
        return "wechatpay" if self.value.startswith("wechat_") else "alipay"


class SharingState(StrEnum):
    """A sharing order at the channel: accepted and being carried out, done, or unknown to the channel."""

    PROCESSING = "processing"
    FINISHED = "finished"
    NOT_FOUND = "not_found"


class TransferResult(StrEnum):
    """One receiver's share: WeChat PENDING / SUCCESS / CLOSED, Alipay PROCESSING / SUCCESS / FAIL.
    ``closed`` means the money did not move (it stays with the merchant)."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    CLOSED = "closed"


class ReturnState(StrEnum):
    """A return (分账回退) of a share from a receiver to the merchant."""

    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    NOT_FOUND = "not_found"


@dataclass(frozen=True)
class SharingReceiver:
    """A receiver to declare to the channel. ``relation`` is WeChat's ``relation_type`` (DISTRIBUTOR,
    PARTNER, …; Alipay keeps it as the binding's memo); ``name`` is the legal name (required for a WeChat
    merchant receiver, encrypted on the wire)."""

    type: ReceiverType
    account: str
    relation: str
    name: str | None = None


@dataclass(frozen=True)
class SharingTransfer:
    """One receiver's share in a sharing order."""

    type: ReceiverType
    account: str
    amount: int
    description: str


@dataclass(frozen=True)
class SharingRequest:
    """Share a paid order: ``transfers`` to the receivers and, with ``finish``, unfreeze what is left to
    the merchant afterwards (no transfers and ``finish`` = only unfreeze). ``out_order_no`` identifies it
    at the channel and is reused on every retry, so the channel carries it out once."""

    channel_trade_no: str
    out_order_no: str
    transfers: tuple[SharingTransfer, ...]
    finish: bool
    description: str = ""  # of an unfreeze (WeChat needs one); each transfer has its own


@dataclass(frozen=True)
class TransferOutcome:
    """The channel's answer for one receiver of an order. ``unfreeze`` marks the channel's own line for
    the money unfrozen to the merchant (WeChat's entry with the merchant's own mchid, Alipay's
    ``unfreeze`` detail), which is not a share."""

    account: str
    amount: int
    result: TransferResult
    fail_reason: str | None = None
    detail_id: str | None = None
    unfreeze: bool = False


@dataclass(frozen=True)
class ChannelSharing:
    """The channel's view of one sharing order."""

    out_order_no: str
    state: SharingState
    raw_state: str
    channel_order_id: str | None = None
    transfers: tuple[TransferOutcome, ...] = ()

    @property
    def unfrozen_amount(self) -> int:
        return sum(t.amount for t in self.transfers if t.unfreeze and t.result == TransferResult.SUCCEEDED)


@dataclass(frozen=True)
class ReturnRequest:
    """Take (part of) a share back from a merchant receiver (WeChat ``return-orders``)."""

    out_order_no: str
    out_return_no: str
    receiver_account: str
    amount: int
    description: str


@dataclass(frozen=True)
class ChannelReturn:
    out_return_no: str
    state: ReturnState
    raw_state: str
    amount: int | None = None
    fail_reason: str | None = None
    channel_return_id: str | None = None
