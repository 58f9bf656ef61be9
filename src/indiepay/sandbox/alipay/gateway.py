"""Request authentication and response signing of the simulated ``gateway.do``.

Checks run in the real gateway's order and answer with its codes: ``app_id`` (unknown apps get an
*unsigned* ``error_response``, there is no key to sign with), ``method``, ``sign``/``sign_type``,
``charset``, ``format`` (optional, defaults to JSON), ``timestamp``, ``version``, then the RSA2
signature over the request canonical string (``sign_type`` included) with the app's public key, and
finally ``biz_content``. Gateway-level failures answer ``error_response``; business answers use
``<method_with_underscores>_response``. Every answer for a known app is signed with the gateway's
per-app private key over the exact text of that member, written with ``\\/`` escapes as Alipay does.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing
from indiepay.sandbox.alipay import royalty
from indiepay.sandbox.alipay.store import App, SandboxStore
from indiepay.sandbox.alipay.trades import GatewayError, invalid

PAGE_METHODS = frozenset({"alipay.trade.page.pay", "alipay.trade.wap.pay"})
API_METHODS = frozenset({"alipay.trade.precreate", "alipay.trade.query", "alipay.trade.close",
                         "alipay.trade.refund", "alipay.trade.fastpay.refund.query",
                         "alipay.data.dataservice.bill.downloadurl.query"}) | royalty.METHODS
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


@dataclass(frozen=True)
class AppKeys:
    app_public_key: rsa.RSAPublicKey
    alipay_private_key: rsa.RSAPrivateKey


@dataclass(frozen=True)
class GatewayRequest:
    """An authenticated request: the app, its method, all parameters and the decoded ``biz_content``."""

    app: App
    keys: AppKeys
    method: str
    params: dict[str, str]
    biz: dict[str, Any]


class RequestRejected(Exception):
    """The request failed a gateway-level check; answered as ``error_response``."""

    def __init__(self, error: GatewayError, keys: AppKeys | None) -> None:
        super().__init__(str(error))
        self.error = error
        self.keys = keys


class KeyRing:
    """Loaded key objects per app (parsing PEM on every request would dominate the gateway's time)."""

    def __init__(self, store: SandboxStore) -> None:
        self._store = store
        self._keys: dict[str, AppKeys] = {}
        self._lock = threading.Lock()

    def forget(self, app_id: str) -> None:
        """Drop the loaded keys of an app whose keys were rotated."""
        with self._lock:
            self._keys.pop(app_id, None)

    def get(self, app: App) -> AppKeys:
        with self._lock:
            keys = self._keys.get(app.app_id)
            if keys is None:
                keys = AppKeys(app_public_key=signing.load_public_key(app.app_public_key),
                               alipay_private_key=signing.load_private_key(app.alipay_private_key))
                self._keys[app.app_id] = keys
            return keys


def _missing(name: str) -> GatewayError:
    return GatewayError("40001", f"isv.missing-{name}", f"缺少{name}参数")


def authenticate(store: SandboxStore, ring: KeyRing, params: dict[str, str]) -> GatewayRequest:
    """Run the gateway checks on the merged query/form parameters.

    Raises:
        RequestRejected: with the error to answer and the keys to sign it with (None: unsigned).
    """
    app_id = params.get("app_id", "")
    if not app_id:
        raise RequestRejected(_missing("app-id"), None)
    app = store.app(app_id)
    if app is None:
        raise RequestRejected(invalid("isv.invalid-app-id", "无效的AppID参数"), None)
    keys = ring.get(app)
    method = params.get("method", "")
    checks: list[tuple[bool, GatewayError]] = [
        (not method, _missing("method")),
        (method not in API_METHODS | PAGE_METHODS, invalid("isv.invalid-method", "不存在的方法名")),
        (not params.get("sign"), _missing("signature")),
        (not params.get("sign_type"), _missing("signature-type")),
        (params.get("sign_type") != "RSA2", invalid("isv.invalid-signature-type", "无效的签名类型")),
        (params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"), invalid("isv.invalid-charset",
                                                                                  "字符集错误")),
        (params.get("format", "JSON").upper() != "JSON", invalid("isv.invalid-format", "无效的数据格式")),
        (not params.get("timestamp"), _missing("timestamp")),
        (not _TIMESTAMP.fullmatch(params.get("timestamp", "")), invalid("isv.invalid-timestamp",
                                                                        "非法的时间戳参数")),
        (not params.get("version"), _missing("version")),
        (params.get("version") != "1.0", invalid("isv.invalid-version", "版本号错误")),
    ]
    for failed, error in checks:
        if failed:
            raise RequestRejected(error, keys)
    content = signing.request_sign_content(params)
    if not signing.rsa2_verify(keys.app_public_key, content, params["sign"]):
        raise RequestRejected(invalid("isv.invalid-signature", f"验签出错，建议检查签名字符串或签名私钥与应用公钥"
                                      f"是否匹配，网关生成的验签字符串为：{content}"), keys)
    biz_text = params.get("biz_content")
    if not biz_text:
        raise RequestRejected(_missing("biz-content"), keys)
    try:
        biz = json.loads(biz_text, parse_float=Decimal)
    except ValueError:
        biz = None
    if not isinstance(biz, dict):
        raise RequestRejected(invalid("isv.invalid-biz-content", "biz_content 不是合法的JSON对象"), keys)
    return GatewayRequest(app=app, keys=keys, method=method, params=params, biz=biz)


def render(member: str, body: dict[str, Any], private_key: rsa.RSAPrivateKey | None) -> str:
    """Write ``{"<member>":{…},"sign":"…"}`` signing the exact member text (unsigned without a key)."""
    clean = {k: v for k, v in body.items() if v is not None}
    inner = json.dumps(clean, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
    sign = signing.rsa2_sign(private_key, inner) if private_key is not None else None
    return signing.response_text(member, inner, sign)


def success(body: dict[str, Any]) -> dict[str, Any]:
    return {"code": "10000", "msg": "Success", **body}
