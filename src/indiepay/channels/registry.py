"""Builds the adapter for one channel account from *that account's* decrypted credentials.

Services never branch on the channel name: they ask the registry for an adapter and use the port.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

from indiepay.channels import alipay, wechatpay
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


CHANNELS: dict[str, ChannelSpec] = {
    "wechatpay": ChannelSpec(
        name="wechatpay",
        production_base_url=wechatpay.PRODUCTION_BASE_URL,
        required_fields=wechatpay.REQUIRED_FIELDS,
        optional_fields=wechatpay.OPTIONAL_FIELDS,
        secret_fields=wechatpay.SECRET_FIELDS,
        identity_fields=frozenset({"mchid"}),
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
        max_amount=10_000_000_000,  # total_amount ≤ 100,000,000.00 yuan
        build=alipay.build_adapter,
        validate=alipay.validate_credentials,
    ),
}


def channel_spec(channel: str) -> ChannelSpec:
    """Return the spec of a known channel or raise ``invalid_channel``."""
    try:
        return CHANNELS[channel]
    except KeyError:
        raise InvalidRequest(f"unknown channel {channel!r}", code="invalid_channel",
                             details={"allowed": sorted(CHANNELS)}) from None


def build_adapter(channel: str, credentials: Mapping[str, str], base_url: str,
                  http: httpx.Client, clock: Clock, *, previous: Mapping[str, str] | None = None) -> ChannelAdapter:
    """Build a fresh adapter bound to one account's credentials and base URL (and, during a rotation's
    grace window, the replaced credentials it still accepts callbacks under)."""
    return channel_spec(channel).build(credentials, base_url, http, clock, previous=previous)
