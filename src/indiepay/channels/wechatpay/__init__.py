"""WeChat Pay API v3 for direct merchants (普通商户): signed client, adapter, callback verification.

The package speaks the real wire protocol against a configurable base URL, so the same code reaches
``https://api.mch.weixin.qq.com`` and the sandbox gateway. Layers:

* :mod:`.signing` — pure crypto (sign messages, SHA256withRSA, Authorization header, paySign, AES-GCM);
  shared with the sandbox so both ends of the protocol use one definition;
* :mod:`.keys` — which WeChat Pay key (platform certificate or ``PUB_KEY_ID_…``) verifies a message;
* :mod:`.client` — HTTP over httpx: request signing, response verification, error translation;
* :mod:`.adapter` — the :class:`~indiepay.channels.base.ChannelAdapter` implementation;
* :mod:`.notify` — callback verification and decryption;
* :mod:`.bills` — daily trade / fund-flow bills: apply, download, gunzip, SHA1 check;
* :mod:`.credentials` — credential fields and their validation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from indiepay.channels.base import ChannelAdapter
from indiepay.channels.wechatpay import signing
from indiepay.channels.wechatpay.adapter import WechatPayAdapter
from indiepay.channels.wechatpay.client import WechatPayClient
from indiepay.channels.wechatpay.credentials import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    SECRET_FIELDS,
    validate_credentials,
)
from indiepay.channels.wechatpay.keys import ChainedKeys, PlatformKeys
from indiepay.channels.wechatpay.notify import NotificationVerifier
from indiepay.core.clock import Clock

PRODUCTION_BASE_URL = "https://api.mch.weixin.qq.com"

__all__ = [
    "OPTIONAL_FIELDS",
    "PRODUCTION_BASE_URL",
    "REQUIRED_FIELDS",
    "SECRET_FIELDS",
    "WechatPayAdapter",
    "WechatPayClient",
    "build_adapter",
    "validate_credentials",
]


def build_adapter(credentials: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock,
                  *, timeout: httpx.Timeout | float | None = None,
                  previous: Mapping[str, str] | None = None) -> WechatPayAdapter:
    """Build the adapter for one merchant account from its decrypted credentials.

    Args:
        credentials: the account's fields, as :func:`validate_credentials` accepted them when they were
            entered (they are not validated again: that would re-run the slow RSA key check per build).
        base_url: ``PRODUCTION_BASE_URL`` or a sandbox URL such as ``http://127.0.0.1:8000/sandbox/wechatpay``.
        http: a shared ``httpx.Client`` (connection pooling); requests are signed per call.
        clock: the clock for request timestamps and the 300 s windows.
        timeout: per-request timeout overriding the client's default.
        previous: the credentials a rotation replaced, still accepted for *callbacks* (never used for a
            request). Their APIv3 key decrypts callbacks WeChat built before the change; signatures are
            checked against the current key store first (WeChat's keys did not rotate with the merchant's)
            and then against the public key the previous set carried.

    Raises:
        InvalidRequest: ``invalid_credentials``.
    """
    client = _client(credentials, base_url, http, clock, timeout)
    previous_verifier = None
    if previous is not None:
        old_key_pem = previous.get("wechatpay_public_key")
        old_keys = PlatformKeys(public_key_id=previous.get("wechatpay_public_key_id"),
                                public_key=signing.load_public_key(old_key_pem) if old_key_pem else None,
                                fetcher=None, clock=clock)
        previous_verifier = NotificationVerifier(keys=ChainedKeys([client.keys, old_keys]),
                                                 apiv3_key=previous["apiv3_key"].encode("utf-8"), clock=clock,
                                                 mchid=previous["mchid"], appid=previous["appid"])
    return WechatPayAdapter(client, appid=credentials["appid"], clock=clock, previous_verifier=previous_verifier)


def _client(creds: Mapping[str, str], base_url: str, http: httpx.Client, clock: Clock,
            timeout: httpx.Timeout | float | None) -> WechatPayClient:
    public_key_pem = creds.get("wechatpay_public_key")
    return WechatPayClient(
        mchid=creds["mchid"],
        merchant_serial_no=creds["merchant_serial_no"],
        private_key=signing.load_private_key(creds["merchant_private_key"], validated=True),
        apiv3_key=creds["apiv3_key"].encode("utf-8"),
        base_url=base_url,
        http=http,
        clock=clock,
        public_key_id=creds.get("wechatpay_public_key_id"),
        public_key=signing.load_public_key(public_key_pem) if public_key_pem else None,
        timeout=timeout,
    )


# Static proof that this package fits the registry's factory signature and the port.
_FACTORY: Callable[..., ChannelAdapter] = build_adapter
