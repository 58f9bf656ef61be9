"""The gateway side of the v3 wire protocol: authenticate requests, sign every response.

A request is accepted only if its ``Authorization`` header names a provisioned ``mchid`` and that
merchant's API certificate serial, its timestamp is within 300 s, and the SHA256withRSA signature over
``METHOD\\nPATH?QUERY\\ntimestamp\\nnonce\\nbody\\n`` verifies with the merchant's public key. PATH is the
path *below the mount point*, percent-encoded as sent: the sandbox sees itself as the host, exactly as
``api.mch.weixin.qq.com`` does, so a client signs the same bytes for production and for the sandbox.
Every answer for a known merchant — errors and 204s included — carries ``Wechatpay-*`` headers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response

from indiepay.channels.wechatpay import signing
from indiepay.sandbox.wechatpay import gateway_keys

TIME_WINDOW_SECONDS = 300


class GatewayError(Exception):
    """An error answer in WeChat's shape: HTTP status + ``{"code", "message"[, "detail"]}``."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.detail = detail


def param_error(message: str, field: str | None = None) -> GatewayError:
    detail = {"location": "body", "field": field} if field else None
    return GatewayError(400, "PARAM_ERROR", message, detail)


@dataclass
class Authenticated:
    """A verified request: the merchant's record, the raw body and its parsed JSON (POST only)."""

    merchant: dict[str, Any]
    body: bytes
    data: dict[str, Any]
    prefer_public_key: bool


def path_below_mount(request: Request) -> str:
    """The percent-encoded path and query as the client signed them, without the mount prefix."""
    scope = request.scope
    root = str(scope.get("root_path", ""))
    raw = scope.get("raw_path")
    path = raw.decode("latin-1") if isinstance(raw, bytes) else quote(str(scope["path"]))
    encoded_root = quote(root)
    if root and path.startswith(encoded_root):
        path = path[len(encoded_root):]
    elif root and path.startswith(root):
        path = path[len(root):]
    query = scope.get("query_string", b"")
    return path + (f"?{query.decode('latin-1')}" if query else "")


async def authenticate(request: Request, merchants: Any) -> Authenticated:
    """Check the request signature; ``merchants.get_merchant(mchid)`` looks the merchant up.

    Raises:
        GatewayError: 401 SIGN_ERROR (missing/malformed header, unknown mchid or serial, stale timestamp,
            bad signature); 400 PARAM_ERROR for a POST body that is not a JSON object.
    """
    header = request.headers.get("authorization", "")
    if not header:
        raise GatewayError(401, "SIGN_ERROR", "Http头缺少Authorization或者Authorization值为空")
    try:
        fields = signing.parse_authorization(header)
    except signing.SignatureError:
        raise GatewayError(401, "SIGN_ERROR",
                           "Http头Authorization值格式错误，请参考《微信支付商户REST API签名规则》") from None
    merchant = merchants.get_merchant(fields["mchid"])
    if merchant is None:
        raise GatewayError(401, "SIGN_ERROR", "商户号不存在或未开通APIv3")
    key = gateway_keys.merchant_public_key(merchant, fields["serial_no"])
    if key is None:
        raise GatewayError(401, "SIGN_ERROR", "商户证书序列号有误。请使用签名私钥匹配的证书序列号")
    try:
        stale = abs(time.time() - int(fields["timestamp"])) >= TIME_WINDOW_SECONDS
    except ValueError:
        stale = True
    if stale:
        raise GatewayError(401, "SIGN_ERROR", "Http头Authorization中的timestamp与请求时间相差超过5分钟")
    body = await request.body()
    message = signing.request_message(request.method, path_below_mount(request), fields["timestamp"],
                                      fields["nonce_str"], body)
    if not signing.verify(key, message, fields["signature"]):
        raise GatewayError(401, "SIGN_ERROR", "签名错误，请检查后再试",
                           {"detail": {"issue": "sign not match"}, "sign_information": {
                               "method": request.method, "url": path_below_mount(request),
                               "truncated_sign_message": message.decode("utf-8", "replace")[:64]}})
    data: dict[str, Any] = {}
    if body:
        try:
            parsed = json.loads(body)
        except ValueError:
            raise GatewayError(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
        if not isinstance(parsed, dict):
            raise GatewayError(400, "PARAM_ERROR", "请求体必须是JSON对象")
        data = parsed
    pub = merchant.get("public_key")
    prefer = bool(pub) and request.headers.get("wechatpay-serial") == pub["id"]
    return Authenticated(merchant=merchant, body=body, data=data, prefer_public_key=prefer)


def signature_headers(merchant: dict[str, Any], body: bytes, prefer_public_key: bool = False,
                      signature_override: str | None = None) -> dict[str, str]:
    """``Wechatpay-Timestamp/Nonce/Signature/Serial`` for ``body`` (empty for 204) signed now."""
    serial, key = gateway_keys.signer(merchant, prefer_public_key)
    timestamp = str(int(time.time()))
    nonce = signing.new_nonce()
    signature = signature_override or signing.sign(key, signing.response_message(timestamp, nonce, body))
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": signature,
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
        "Request-ID": signing.new_nonce(24),
    }


def dumps(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signed_response(merchant: dict[str, Any] | None, status: int, payload: dict[str, Any] | None,
                    prefer_public_key: bool = False) -> Response:
    """A JSON (or empty 204) response, signed when the merchant is known."""
    body = b"" if payload is None else dumps(payload)
    headers = signature_headers(merchant, body, prefer_public_key) if merchant is not None else {}
    media = None if payload is None else "application/json; charset=utf-8"
    return Response(content=body, status_code=status, headers=headers, media_type=media)


def error_response(merchant: dict[str, Any] | None, error: GatewayError, prefer_public_key: bool = False) -> Response:
    payload: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.detail:
        payload["detail"] = error.detail
    return signed_response(merchant, error.status, payload, prefer_public_key)
