"""Builds the adapter for one channel account from *that account's* decrypted credentials.

Services never branch on the channel name: they ask the registry for an adapter and use the port.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import httpx

from indiepay.channels import alipay, banktransfer, unionpay, wechatpay
from indiepay.channels.base import ChannelAdapter
from indiepay.core.clock import Clock
from indiepay.core.errors import InvalidRequest


class AdapterFactory(Protocol):
    """Builds one account's adapter; ``previous`` is the credential set a rotation replaced, accepted for
    callbacks only while its grace window lasts (the caller decides; ``None`` otherwise)."""

    def __call__(self, credentials: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock, /, *,
                 previous: Mapping[str, str] | None = None) -> ChannelAdapter: ...


@dataclass(frozen=True)
class ChannelSpec:
    """What the platform knows about a channel without talking to it."""

    name: str
    production_base_url: str
    required_fields: frozenset[str]
    optional_fields: frozenset[str]
    secret_fields: frozenset[str]
    identity_fields: frozenset[str]  # name the merchant account at the channel: a rotation cannot change them
    max_amount: int
    build: AdapterFactory
    validate: Callable[[Mapping[str, str]], dict[str, str]]
    offers_profit_sharing: bool = True  # orders can be opened for 分账 (see indiepay.channels.sharing)
    # what the channel accepts as an order or refund number, where it is stricter than the API's own rule
    # (UnionPay: 8–32 letters and digits); the API refuses a merchant's number that does not fit up front
    order_no_rule: re.Pattern[str] | None = None
    order_no_hint: str = ""
    # the channel cannot be asked to return money (a bank account): the platform records the refund, the
    # merchant sends the money back and confirms it (indiepay.refunds.manual)
    refunds_by_hand: bool = False
    # a channel without a sandbox gateway makes its test-mode details locally (``{"sandbox": true}``)
    sandbox_credentials: Callable[[], dict[str, str]] | None = None
    # how long a payment waits when the merchant does not say (None: the platform's default, 2 h); a bank
    # transfer is made from the buyer's own bank, often the next working day
    default_expires_in_seconds: int | None = None
    # the channel publishes a daily bill of its trades that the worker fetches and reconciles
    publishes_daily_bill: bool = True
    # the credential naming the account as its bills name it (WeChat Pay's 商户号, Alipay's partner id,
    # UnionPay's merId): a bill naming another is refused
    bill_account_field: str | None = None
    # how long before Beijing midnight the channel's day (the one its daily bill covers) starts: UnionPay
    # clears from 23:00 the evening before to 23:00, WeChat Pay and Alipay from midnight to midnight
    clearing_day_starts_before: timedelta = timedelta(0)


CHANNELS: dict[str, ChannelSpec] = {
    "wechatpay": ChannelSpec(
        name="wechatpay",
        production_base_url=wechatpay.PRODUCTION_BASE_URL,
        required_fields=wechatpay.REQUIRED_FIELDS,
        optional_fields=wechatpay.OPTIONAL_FIELDS,
        secret_fields=wechatpay.SECRET_FIELDS,
        identity_fields=frozenset({"mchid"}),
        bill_account_field="mchid",
        max_amount=2**31 - 1,  # amount.total is a 32-bit integer of fen
        build=wechatpay.build_adapter,
        validate=wechatpay.validate_credentials,
    ),
    "alipay": ChannelSpec(
        name="alipay",
        production_base_url=alipay.PRODUCTION_BASE_URL,
        required_fields=alipay.REQUIRED_FIELDS,
        optional_fields=alipay.OPTIONAL_FIELDS,
        secret_fields=alipay.SECRET_FIELDS,
        identity_fields=frozenset({"app_id", "seller_id"}),
        bill_account_field="seller_id",
        max_amount=10_000_000_000,  # total_amount ≤ 100,000,000.00 yuan
        build=alipay.build_adapter,
        validate=alipay.validate_credentials,
    ),
    "unionpay": ChannelSpec(
        name="unionpay",
        production_base_url=unionpay.PRODUCTION_BASE_URL,
        required_fields=unionpay.REQUIRED_FIELDS,
        optional_fields=unionpay.OPTIONAL_FIELDS,
        secret_fields=unionpay.SECRET_FIELDS,
        identity_fields=frozenset({"mer_id"}),
        bill_account_field="mer_id",
        max_amount=999_999_999_999,  # txnAmt is at most 12 digits of fen
        build=unionpay.build_adapter,
        validate=unionpay.validate_credentials,
        offers_profit_sharing=False,
        # acp takes 8–40, but the daily file prints 32 characters of it (商户订单号 ans32): a longer number
        # could never be reconciled
        order_no_rule=re.compile(r"[0-9A-Za-z]{8,32}"),
        order_no_hint="8 to 32 letters and digits",
        clearing_day_starts_before=timedelta(hours=1),
    ),
    "bank_transfer": ChannelSpec(
        name="bank_transfer",
        production_base_url="",  # no gateway: the buyer's bank moves the money, a statement shows it
        required_fields=banktransfer.REQUIRED_FIELDS,
        optional_fields=banktransfer.OPTIONAL_FIELDS,
        secret_fields=banktransfer.SECRET_FIELDS,
        identity_fields=frozenset({"account_number"}),
        max_amount=100_000_000_000,  # ¥1,000,000,000: far above any one order; banks set their own limits
        build=banktransfer.build_adapter,
        validate=banktransfer.validate_credentials,
        offers_profit_sharing=False,
        refunds_by_hand=True,
        sandbox_credentials=banktransfer.sandbox_credentials,
        default_expires_in_seconds=3 * 24 * 3600,
        publishes_daily_bill=False,  # the account's statement is imported (indiepay.transfers)
    ),
}


def channel_spec(channel: str) -> ChannelSpec:
    """Return the spec of a known channel or raise ``invalid_channel``."""
    try:
        return CHANNELS[channel]
    except KeyError:
        raise InvalidRequest(f"unknown channel {channel!r}", code="invalid_channel",
                             details={"allowed": sorted(CHANNELS)}) from None


def check_order_no(channel: str, field: str, value: str) -> None:
    """Refuse (``invalid_order_no``, 400) a merchant's order or refund number the channel would not take."""
    spec = channel_spec(channel)
    if spec.order_no_rule is not None and not spec.order_no_rule.fullmatch(value):
        raise InvalidRequest(f"{channel} takes {spec.order_no_hint} as {field}", code="invalid_order_no",
                             details={"field": field, "channel": channel})


def build_adapter(channel: str, credentials: Mapping[str, str], base_url: str,
                  http: httpx.Client, clock: Clock, *, previous: Mapping[str, str] | None = None) -> ChannelAdapter:
    """Build a fresh adapter bound to one account's credentials and base URL (and, during a rotation's
    grace window, the replaced credentials it still accepts callbacks under)."""
    return channel_spec(channel).build(credentials, base_url, http, clock, previous=previous)
