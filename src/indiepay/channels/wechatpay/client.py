"""The signed HTTP conversation with the WeChat Pay v3 gateway for one merchant account.

Every request carries an ``Authorization`` signature over
``METHOD\\nPATH?QUERY\\ntimestamp\\nnonce\\nbody\\n`` where PATH is the path *below the base URL*,
byte for byte as sent: the same client then signs ``/v3/pay/...`` whether it talks to
``https://api.mch.weixin.qq.com`` or to a sandbox mounted under a
prefix. Every response is verified before it is believed: a 2xx without ``Wechatpay-*`` signature headers
is treated as forged, timestamps more than 300 s away from our clock are refused, and the key is chosen by
``Wechatpay-Serial`` (see :mod:`.keys`). Transport failures and gateway statuses are translated into the
channel error tree here, once, so the adapter only deals with meaning:

* connection refused / connect timeout / 429 → :class:`RetryableChannelError` (nothing happened);
* timeout or broken connection after sending → :class:`UnknownOutcomeError` for mutating calls,
  :class:`RetryableChannelError` for queries (asking again is harmless);
* 5xx, unsigned/badly signed/unparsable responses → :class:`UnknownOutcomeError`;
* other 4xx → :class:`TerminalChannelError` with the gateway's ``code`` and ``message``.

Unsigned *error* responses are accepted as errors (the official SDKs do the same: the gateway's front
layers do not always sign them); a signature that is present but wrong is never accepted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.channels.base import (
    ChannelError,
    RetryableChannelError,
    TerminalChannelError,
    UnknownOutcomeError,
)
from indiepay.channels.transport import exchange
from indiepay.channels.wechatpay import signing
from indiepay.channels.wechatpay.keys import PlatformKeys
from indiepay.core.clock import Clock

TIME_WINDOW_SECONDS = 300
USER_AGENT = "indiepay/0.1 (WeChatPay-APIv3; python-httpx)"
SIGNATURE_HEADERS = ("wechatpay-timestamp", "wechatpay-nonce", "wechatpay-signature", "wechatpay-serial")


@dataclass(frozen=True)
class WechatResponse:
    """A verified 2xx answer: status, raw body and the parsed JSON object (``{}`` for 204)."""

    status_code: int
    body: bytes
    data: dict[str, Any]


def dumps(payload: Mapping[str, Any]) -> bytes:
    """Compact UTF-8 JSON, the way the gateway and the official SDKs serialise bodies."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def within_window(timestamp: str, now_epoch: float) -> bool:
    """True when ``timestamp`` (epoch seconds) is less than 300 s away from now, either direction."""
    try:
        value = int(timestamp)
    except ValueError:
        return False
    return abs(now_epoch - value) < TIME_WINDOW_SECONDS


class WechatPayClient:
    """Signs requests with the merchant key and verifies responses with WeChat Pay's keys."""

    def __init__(self, *, mchid: str, merchant_serial_no: str, private_key: rsa.RSAPrivateKey,
                 apiv3_key: bytes, base_url: str, http: httpx.Client, clock: Clock,
                 public_key_id: str | None = None, public_key: rsa.RSAPublicKey | None = None,
                 timeout: httpx.Timeout | float | None = None) -> None:
        self.mchid = mchid
        self.merchant_serial_no = merchant_serial_no
        self.private_key = private_key
        self.apiv3_key = apiv3_key
        self.base_url = base_url.rstrip("/")
        self._base_path = httpx.URL(self.base_url).raw_path.rstrip(b"/")
        self._http = http
        self._clock = clock
        self._timeout = timeout
        self.keys = PlatformKeys(public_key_id=public_key_id, public_key=public_key,
                                 fetcher=self.fetch_certificates, clock=clock)

    # -- public API ---------------------------------------------------------------------------------

    def call(self, method: str, path: str, *, query: Mapping[str, str] | None = None,
             body: Mapping[str, Any] | None = None, mutating: bool,
             wechatpay_serial: str | None = None) -> WechatResponse:
        """Send one signed request and return the verified 2xx answer.

        Args:
            method: HTTP method.
            path: the v3 path, already percent-encoded (``/v3/pay/transactions/out-trade-no/...``).
            query: query parameters, signed as sent.
            body: JSON object for POST; signed as the exact bytes sent.
            mutating: whether a timeout may have left an effect behind (decides Unknown vs Retryable).
            wechatpay_serial: the platform key a field of ``body`` is encrypted under (sent as
                ``Wechatpay-Serial``); by default the account's public key id, if it has one.

        Raises:
            RetryableChannelError, TerminalChannelError, UnknownOutcomeError (see the module docstring).
        """
        response = self._send(method, path, query=query, body=body, mutating=mutating,
                              wechatpay_serial=wechatpay_serial)
        self._verify(response)
        return self._interpret(response)

    def fetch_certificates(self) -> dict[str, rsa.RSAPublicKey]:
        """Download and decrypt the platform certificates; verify the answer with one of them.

        The list is self-authenticating only in combination with the APIv3 key: the certificates
        decrypt under it (so an attacker without the key cannot plant one), and the response must be
        signed by one of them (or by the account's public key during migration).
        """
        response = self._send("GET", "/v3/certificates", query=None, body=None, mutating=False)
        if not 200 <= response.status_code < 300:
            self._verify(response)
            self._interpret(response)
        data = self._parse_json(response)
        now = self._clock.now()
        found: dict[str, rsa.RSAPublicKey] = {}
        for item in data.get("data", []):
            sealed = item.get("encrypt_certificate", {})
            try:
                pem = signing.aead_decrypt(self.apiv3_key, str(sealed["nonce"]),
                                           str(sealed.get("associated_data", "")), str(sealed["ciphertext"]))
                cert = x509.load_pem_x509_certificate(pem)
            except (KeyError, ValueError, signing.SignatureError) as exc:
                raise UnknownOutcomeError("undecryptable platform certificate") from exc
            if not cert.not_valid_before_utc <= now < cert.not_valid_after_utc:
                continue
            key = cert.public_key()
            if isinstance(key, rsa.RSAPublicKey):
                found[signing.certificate_serial(cert)] = key
        headers = response.headers
        serial = headers.get("wechatpay-serial", "")
        signer = found.get(serial.upper())
        if signer is None and serial and serial == self.keys.public_key_id:
            signer = self.keys.public_key
        self._check_signature(response, signer)
        return found

    def encryption_key(self) -> tuple[str, rsa.RSAPublicKey]:
        """The platform key to encrypt a sensitive field under, with its serial: the account's WeChat Pay
        public key when it has one, else one of the platform certificates (only valid ones are kept;
        fetched if none is cached yet). Raises RetryableChannelError when WeChat Pay offers no key at all."""
        if self.keys.public_key_id and self.keys.public_key is not None:
            return self.keys.public_key_id, self.keys.public_key
        certificates = self.keys.certificates()
        if not certificates:
            for serial, key in self.fetch_certificates().items():
                self.keys.add_certificate(serial, key)
            certificates = self.keys.certificates()
        if not certificates:
            raise RetryableChannelError("WeChat Pay offers no platform certificate to encrypt with")
        serial = max(certificates)
        return serial, certificates[serial]

    # -- internals ----------------------------------------------------------------------------------

    def download(self, url: str) -> bytes:
        """GET a bill ``download_url`` with the usual Authorization signature and return the raw body.

        The gateway does not sign the download (the caller checks the announced SHA1 instead), so the
        answer is not verified here. The URL names the gateway itself; its path is signed below the base
        URL like any other request. A non-2xx answer is translated like any other (it may be signed JSON).

        Raises:
            RetryableChannelError: connection failure or timeout (downloading again is harmless).
            TerminalChannelError, UnknownOutcomeError: a 4xx / 5xx answer.
        """
        response = self._send("GET", "", query=None, body=None, mutating=False, url=url, accept="*/*")
        if not 200 <= response.status_code < 300:
            self._verify(response)
            self._interpret(response)
        return response.content

    def _send(self, method: str, path: str, *, query: Mapping[str, str] | None,
              body: Mapping[str, Any] | None, mutating: bool, url: str | None = None,
              accept: str = "application/json", wechatpay_serial: str | None = None) -> httpx.Response:
        content = dumps(body) if body is not None else b""
        if url is None:
            url = self.base_url + path + (f"?{urlencode(dict(query))}" if query else "")
        headers = {"Accept": accept, "User-Agent": USER_AGENT}
        if body is not None:
            headers["Content-Type"] = "application/json"
        serial = wechatpay_serial or self.keys.public_key_id
        if serial:
            headers["Wechatpay-Serial"] = serial
        request = self._http.build_request(
            method, url, content=content, headers=headers,
            timeout=self._timeout if self._timeout is not None else httpx.USE_CLIENT_DEFAULT,
        )
        raw_path = request.url.raw_path
        sign_path = raw_path[len(self._base_path):] if raw_path.startswith(self._base_path) else raw_path
        timestamp = str(int(self._clock.now().timestamp()))
        nonce = signing.new_nonce()
        message = signing.request_message(method, sign_path.decode("ascii"), timestamp, nonce, content)
        request.headers["Authorization"] = signing.authorization_header(
            self.mchid, self.merchant_serial_no, nonce, timestamp, signing.sign(self.private_key, message))
        return exchange(lambda: self._http.send(request), gateway="WeChat Pay", mutating=mutating)

    def _verify(self, response: httpx.Response) -> None:
        headers = response.headers
        present = [name for name in SIGNATURE_HEADERS if headers.get(name)]
        if not present and not 200 <= response.status_code < 300:
            return  # unsigned error from the gateway's front layer; mapped by status
        if len(present) != len(SIGNATURE_HEADERS):
            raise UnknownOutcomeError("response without WeChat Pay signature headers (forged?)",
                                      http_status=response.status_code)
        self._check_signature(response, self.keys.resolve(headers["wechatpay-serial"]))

    def _check_signature(self, response: httpx.Response, key: rsa.RSAPublicKey | None) -> None:
        headers = response.headers
        timestamp = headers.get("wechatpay-timestamp", "")
        if key is None:
            serial = headers.get("wechatpay-serial")
            raise UnknownOutcomeError(f"response signed with unknown serial {serial!r}",
                                      http_status=response.status_code)
        if not within_window(timestamp, self._clock.now().timestamp()):
            raise UnknownOutcomeError("response timestamp outside the 300 s window",
                                      http_status=response.status_code)
        message = signing.response_message(timestamp, headers.get("wechatpay-nonce", ""), response.content)
        if not signing.verify(key, message, headers.get("wechatpay-signature", "")):
            raise UnknownOutcomeError("response signature does not verify", http_status=response.status_code)

    def _parse_json(self, response: httpx.Response) -> dict[str, Any]:
        if not response.content:
            return {}
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise UnknownOutcomeError("unparsable WeChat Pay response",
                                      http_status=response.status_code) from exc
        if not isinstance(data, dict):
            raise UnknownOutcomeError("WeChat Pay response is not an object",
                                      http_status=response.status_code)
        return data

    def _interpret(self, response: httpx.Response) -> WechatResponse:
        status = response.status_code
        if 200 <= status < 300:
            return WechatResponse(status, response.content, self._parse_json(response))
        try:
            data = self._parse_json(response)
        except ChannelError:
            data = {}
        code = str(data.get("code") or "") or None
        message = f"WeChat Pay {status} {code or ''}: {data.get('message', response.text[:200])}".strip()
        if status == 429:
            raise RetryableChannelError(message, channel_code=code, http_status=status)
        if status >= 500:
            raise UnknownOutcomeError(message, channel_code=code, http_status=status)
        raise TerminalChannelError(message, channel_code=code, http_status=status)
