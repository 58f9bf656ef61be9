"""HTTP + signing for the Alipay OpenAPI gateway, one instance per Alipay app (channel account).

Every call is a form POST to the single gateway URL with the common parameters and a ``biz_content``
JSON string, signed with the app's private key. Every answer is checked against the Alipay public key
over the exact raw text of its ``…_response`` member before any field is believed: a success without a
valid signature is treated as forged (outcome unknown, never success).

Transport and gateway failures are translated here into the :mod:`indiepay.channels.base` error tree;
business outcomes (``code`` 40004 with a ``sub_code``) are left to the adapter, which knows which of them
mean "not found" or "already closed" for a given call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.alipay import signing
from indiepay.channels.base import (
    ChannelError,
    RetryableChannelError,
    TerminalChannelError,
    UnknownOutcomeError,
)
from indiepay.channels.transport import exchange
from indiepay.core.clock import BUSINESS_TZ, Clock

SUCCESS = "10000"
SERVICE_UNAVAILABLE = "20000"
MISSING_ARGUMENTS = "40001"
INVALID_ARGUMENTS = "40002"
INSUFFICIENT_PERMISSION = "40003"
BUSINESS_FAILED = "40004"

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class AlipayResponse:
    """A verified sync response: ``code``/``msg``/``sub_code``/``sub_msg`` plus every other field."""

    method: str
    code: str
    msg: str
    sub_code: str | None
    sub_msg: str | None
    body: Mapping[str, Any]

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS

    def field(self, name: str) -> str | None:
        """A field as a string (Alipay sends amounts as strings; anything else is stringified)."""
        value = self.body.get(name)
        if value is None or value == "":
            return None
        return value if isinstance(value, str) else str(value)


class AlipayClient:
    """Signs requests for one app and verifies the gateway's answers."""

    def __init__(self, *, app_id: str, app_private_key: rsa.RSAPrivateKey,
                 alipay_public_key: rsa.RSAPublicKey, gateway_url: str, http: httpx.Client,
                 clock: Clock) -> None:
        self.app_id = app_id
        self.gateway_url = gateway_url
        self._private_key = app_private_key
        self._public_key = alipay_public_key
        self._http = http
        self._clock = clock

    @property
    def http(self) -> httpx.Client:
        """The pooled HTTP client, for the unsigned bill download (see :mod:`.bills`)."""
        return self._http

    def timestamp(self) -> str:
        """Now as Asia/Shanghai wall time, the only form the gateway accepts."""
        return self._clock.now().astimezone(BUSINESS_TZ).strftime(TIMESTAMP_FORMAT)

    def signed_params(self, method: str, biz_content: Mapping[str, Any], *, notify_url: str | None = None,
                      return_url: str | None = None) -> dict[str, str]:
        """The complete, signed parameter set for ``method`` (empty optional values left out)."""
        params: dict[str, str] = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self.timestamp(),
            "version": "1.0",
            "biz_content": json.dumps(biz_content, ensure_ascii=False, separators=(",", ":")),
        }
        if notify_url:
            params["notify_url"] = notify_url
        if return_url:
            params["return_url"] = return_url
        params["sign"] = signing.rsa2_sign(self._private_key, signing.request_sign_content(params))
        return params

    def redirect_url(self, method: str, biz_content: Mapping[str, Any], *, notify_url: str | None,
                     return_url: str | None) -> str:
        """A signed GET URL for the buyer's browser (page/wap pay): no server call is made."""
        params = self.signed_params(method, biz_content, notify_url=notify_url, return_url=return_url)
        separator = "&" if "?" in self.gateway_url else "?"
        return self.gateway_url + separator + urlencode(params)

    def call(self, method: str, biz_content: Mapping[str, Any], *, mutating: bool,
             notify_url: str | None = None) -> AlipayResponse:
        """POST one method and return its verified response, whatever its ``code``.

        Raises:
            RetryableChannelError: the request never reached the gateway (connection refused/failed).
            UnknownOutcomeError: timeout (for a mutating call), 5xx, unparsable, unsigned or forged answer.
        """
        params = self.signed_params(method, biz_content, notify_url=notify_url)
        reply = exchange(lambda: self._http.post(self.gateway_url, data=params,
                                                 headers={"Accept": "application/json, text/plain, */*"}),
                         gateway=f"the Alipay gateway ({method})", mutating=mutating)
        if reply.status_code >= 500:
            raise UnknownOutcomeError(f"{method}: gateway answered HTTP {reply.status_code}",
                                      http_status=reply.status_code)
        if reply.status_code != 200:
            raise UnknownOutcomeError(f"{method}: unexpected HTTP {reply.status_code}",
                                      http_status=reply.status_code)
        return self.verify_response(method, reply.content.decode(reply.encoding or "utf-8", "replace"))

    def verify_response(self, method: str, text: str) -> AlipayResponse:
        """Check the signature over the raw ``…_response`` text and decode it.

        Raises:
            UnknownOutcomeError: unparsable, unsigned or wrongly signed.
        """
        try:
            name, raw, sign = signing.split_signed_response(text, method)
            body = json.loads(raw)
        except ValueError as exc:
            raise UnknownOutcomeError(f"{method}: unparsable gateway response: {exc}") from exc
        if not isinstance(body, dict):
            raise UnknownOutcomeError(f"{method}: {name} is not an object")
        code = str(body.get("code", ""))
        if sign is None:
            raise UnknownOutcomeError(f"{method}: unsigned gateway response (code {code or '?'})",
                                      channel_code=str(body.get("sub_code") or code) or None)
        if not signing.rsa2_verify(self._public_key, raw, sign):
            raise UnknownOutcomeError(f"{method}: gateway response signature does not verify")
        return AlipayResponse(method=method, code=code, msg=str(body.get("msg", "")),
                              sub_code=_opt_str(body.get("sub_code")), sub_msg=_opt_str(body.get("sub_msg")),
                              body=body)


def raise_for_code(response: AlipayResponse, *, mutating: bool) -> None:
    """Translate a non-success ``code`` into the error tree (does nothing for 10000).

    20000 (service temporarily unavailable) is retryable for reads; for a mutating call Alipay's own
    guidance is to query, so its outcome is unknown. 40001/40002/40003 and business failures are
    terminal; anything unrecognised is treated as unknown.
    """
    if response.ok:
        return
    message = f"{response.method}: {response.code} {response.msg}"
    if response.sub_code or response.sub_msg:
        message += f" ({response.sub_code or ''}: {response.sub_msg or ''})"
    channel_code = response.sub_code or response.code
    error: type[ChannelError]
    if response.code == SERVICE_UNAVAILABLE:
        error = UnknownOutcomeError if mutating else RetryableChannelError
    elif response.code in (MISSING_ARGUMENTS, INVALID_ARGUMENTS, INSUFFICIENT_PERMISSION):
        error = TerminalChannelError
    elif response.code == BUSINESS_FAILED:
        error = UnknownOutcomeError if channel_code in _UNKNOWN_SUB_CODES else TerminalChannelError
    else:
        error = UnknownOutcomeError
    raise error(message, channel_code=channel_code)


# Business failures that do not mean "not done": the gateway itself could not tell.
_UNKNOWN_SUB_CODES = frozenset({"ACQ.SYSTEM_ERROR", "aop.ACQ.SYSTEM_ERROR"})


def _opt_str(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return str(value)


def parse_timestamp(text: str | None) -> datetime | None:
    """Alipay wall time (``yyyy-MM-dd HH:mm:ss``, Asia/Shanghai; ``gmt_refund`` adds ``.SSS``) as aware UTC.

    Returns None when absent or unparsable (these times are informative, never trusted for decisions).
    """
    if not text:
        return None
    whole, _, fraction = text.strip().partition(".")
    try:
        naive = datetime.strptime(whole, TIMESTAMP_FORMAT)  # noqa: DTZ007 - zone attached below
    except ValueError:
        return None
    micros = int(fraction[:6].ljust(6, "0")) if fraction.isdigit() else 0
    return naive.replace(tzinfo=BUSINESS_TZ, microsecond=micros).astimezone(UTC)
