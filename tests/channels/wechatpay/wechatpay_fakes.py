"""Test doubles for the WeChat Pay client: generated keys and a signing fake gateway on MockTransport."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.wechatpay import WechatPayAdapter, build_adapter, signing
from indiepay.core.clock import Clock, SystemClock

APIV3_KEY = "0123456789abcdefghijABCDEFGHIJ01"
PUB_KEY_ID = "PUB_KEY_ID_0100000000000000000000001"


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    del name  # one cached key per name
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def credentials(**overrides: str) -> dict[str, str]:
    creds = {
        "mchid": "1900000109",
        "appid": "wxd678efh567hg6787",
        "merchant_serial_no": "5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        "merchant_private_key": signing.private_key_pem(rsa_key("merchant")),
        "apiv3_key": APIV3_KEY,
        "wechatpay_public_key_id": PUB_KEY_ID,
        "wechatpay_public_key": signing.public_key_pem(rsa_key("wechatpay").public_key()),
    }
    creds.update(overrides)
    return creds


def signed_headers(body: bytes, *, key: rsa.RSAPrivateKey | None = None, serial: str = PUB_KEY_ID,
                   timestamp: int | None = None) -> dict[str, str]:
    ts = str(timestamp if timestamp is not None else int(time.time()))
    nonce = signing.new_nonce()
    signature = signing.sign(key or rsa_key("wechatpay"), signing.response_message(ts, nonce, body))
    return {"Wechatpay-Timestamp": ts, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": signature,
            "Wechatpay-Serial": serial}


def reply(status: int, payload: dict[str, Any] | None = None, *, signed: bool = True,
          **sign_args: Any) -> httpx.Response:
    body = b"" if payload is None else json.dumps(payload, ensure_ascii=False).encode()
    headers = signed_headers(body, **sign_args) if signed else {}
    return httpx.Response(status, content=body, headers=headers)


@dataclass
class FakeGateway:
    """Answers every request with ``handler(request)``; remembers the requests."""

    handler: Callable[[httpx.Request], httpx.Response]
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.handler(request)


def adapter_for(handler: Callable[[httpx.Request], httpx.Response], *, base_url: str = "https://api.mch.weixin.qq.com",
                clock: Clock | None = None, **overrides: str) -> tuple[WechatPayAdapter, FakeGateway]:
    gateway = FakeGateway(handler)
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    return build_adapter(credentials(**overrides), base_url, http, clock or SystemClock()), gateway
