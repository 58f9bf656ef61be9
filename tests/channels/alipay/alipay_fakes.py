"""Keys and a scripted fake gateway for the Alipay client tests (no network, no sandbox)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing

APP_ID = "2021000123456789"
SELLER_ID = "2088000000000001"
GATEWAY = "https://gateway.test/gateway.do"


@dataclass(frozen=True)
class Keys:
    app: rsa.RSAPrivateKey
    alipay: rsa.RSAPrivateKey

    def credentials(self) -> dict[str, str]:
        return {"app_id": APP_ID, "seller_id": SELLER_ID,
                "app_private_key": signing.private_key_pem(self.app),
                "alipay_public_key": signing.public_key_pem(self.alipay.public_key())}


def new_keys() -> Keys:
    return Keys(app=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                alipay=rsa.generate_private_key(public_exponent=65537, key_size=2048))


def signed_response(key: rsa.RSAPrivateKey, method: str, body: dict[str, Any], *, sign: bool = True) -> str:
    inner = json.dumps(body, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    return signing.response_text(signing.response_key(method), inner,
                                 signing.rsa2_sign(key, inner) if sign else None)


Handler = Callable[[dict[str, str]], httpx.Response]


@dataclass
class FakeGateway:
    """Answers each gateway call with the next scripted handler; records verified requests."""

    keys: Keys
    handlers: list[Handler] = field(default_factory=list)
    requests: list[dict[str, str]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        params = dict(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        assert signing.rsa2_verify(self.keys.app.public_key(), signing.request_sign_content(params), params["sign"])
        self.requests.append(params)
        return self.handlers.pop(0)(params)

    def reply(self, body: dict[str, Any], *, sign: bool = True, tamper: Callable[[str], str] | None = None,
              ) -> None:
        def handler(params: dict[str, str]) -> httpx.Response:
            text = signed_response(self.keys.alipay, params["method"], body, sign=sign)
            return httpx.Response(200, text=tamper(text) if tamper else text,
                                  headers={"content-type": "text/html;charset=utf-8"})
        self.handlers.append(handler)

    def raw(self, handler: Handler) -> None:
        self.handlers.append(handler)
