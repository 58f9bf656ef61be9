"""HTTP + signing for the UnionPay online gateway (acp 5.1.0), one instance per UnionPay merchant account.

Every server call is a form POST of flat string fields to one of three paths below the base URL, signed
with the merchant's signing key and naming that key's certificate by ``certId``. Every answer is believed
only after its ``signPubKeyCert`` chains to the UnionPay root and intermediate the merchant installed (and
names UnionPay) and its signature verifies with that certificate: a success without both is treated as
forged (outcome unknown, never success). Verified gateway certificates are remembered by their PEM text,
so a certificate UnionPay rotates to is accepted on first sight without a pinned copy.

Transport failures and ``respCode`` values are translated here into the :mod:`indiepay.channels.base`
error tree; what ``34`` (no such transaction) means for a given call is the adapter's business.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

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
from indiepay.channels.unionpay import signing
from indiepay.core.clock import BUSINESS_TZ, Clock

FRONT_PATH = "/gateway/api/frontTransReq.do"
BACK_PATH = "/gateway/api/backTransReq.do"
QUERY_PATH = "/gateway/api/queryTrans.do"
FILE_PATH = "/"  # below the file host (filedownload.95516.com), not the gateway
# UnionPay serves reconciliation files from a host of their own; any other base URL (the sandbox, a proxy)
# serves them below itself at /filedownload
FILE_HOSTS = {"https://gateway.95516.com": "https://filedownload.95516.com",
              "https://gateway.test.95516.com": "https://filedownload.test.95516.com"}

TXN_TIME_FORMAT = "%Y%m%d%H%M%S"

SUCCESS = "00"
NO_SUCH_TRANSACTION = "34"
DUPLICATE = "12"
# the request was accepted but its result is not known yet: ask with a query
IN_PROGRESS = frozenset({"03", "04", "05"})
# definitely not carried out, worth asking again later: system closed (02), busy (06)
RETRYABLE = frozenset({"02", "06"})
# definitely not carried out and retrying will not help: format, signature, duplicate, missing fields,
# merchant state, no permission, amount limit, original transaction absent or unlike this one, risk
TERMINAL = frozenset({"01", "10", "11", "12", "13", "30", "31", "32", "33", "35", "36", "38", "39"})


@dataclass(frozen=True)
class TrustAnchors:
    """The UnionPay certificates a merchant installs: intermediate (``acp_*_middle.cer``) and root."""

    middle: x509.Certificate
    root: x509.Certificate


def file_base_url(base_url: str) -> str:
    """Where the reconciliation files of a gateway are (see :data:`FILE_HOSTS`)."""
    base = base_url.rstrip("/")
    return FILE_HOSTS.get(base, base + "/filedownload")


def txn_time(moment: datetime) -> str:
    """``txnTime``: Beijing wall time to the second (naive values are taken as UTC)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(BUSINESS_TZ).strftime(TXN_TIME_FORMAT)


class UnionpayClient:
    """Signs requests for one merchant account and verifies the gateway's answers and notifies."""

    def __init__(self, *, mer_id: str, sign_key: rsa.RSAPrivateKey, sign_cert: x509.Certificate,
                 anchors: TrustAnchors, base_url: str, http: httpx.Client, clock: Clock) -> None:
        self.mer_id = mer_id
        self.base_url = base_url.rstrip("/")
        self.file_url = file_base_url(base_url)
        self.anchors = anchors
        self._sign_key = sign_key
        self._cert_id = signing.cert_id(sign_cert)
        self._http = http
        self.clock = clock
        self._trusted: dict[str, rsa.RSAPublicKey] = {}
        self._lock = threading.Lock()

    def signed_fields(self, fields: Mapping[str, str]) -> dict[str, str]:
        """``fields`` with the common ones added and the signature over all of them."""
        signed = {"version": signing.VERSION, "encoding": "UTF-8", "signMethod": signing.SIGN_METHOD_RSA,
                  "accessType": "0", "merId": self.mer_id, "certId": self._cert_id, **fields}
        signed["signature"] = signing.sign(self._sign_key, signed)
        return signed

    def front_url(self) -> str:
        return self.base_url + FRONT_PATH

    def call(self, path: str, fields: Mapping[str, str], *, mutating: bool, base: str | None = None) -> dict[str, str]:
        """POST one transaction to ``path`` below ``base`` (the gateway unless given) and return its verified
        answer, whatever its ``respCode``.

        Raises:
            RetryableChannelError: the request never reached the gateway.
            UnknownOutcomeError: timeout (mutating), 5xx, unparsable, unsigned or forged answer.
        """
        what = f"{fields.get('txnType', '?')}/{fields.get('txnSubType', '?')}"
        signed = self.signed_fields(fields)
        reply = exchange(lambda: self._http.post((base or self.base_url) + path, data=signed),
                         gateway=f"the UnionPay gateway ({what})", mutating=mutating)
        if reply.status_code != 200:
            raise UnknownOutcomeError(f"UnionPay {what}: gateway answered HTTP {reply.status_code}",
                                      http_status=reply.status_code)
        try:
            answer = signing.parse_response(reply.content.decode("utf-8"))
        except (UnicodeDecodeError, signing.ResponseFormatError) as exc:
            raise UnknownOutcomeError(f"UnionPay {what}: unparsable answer: {exc}") from exc
        problem = self.untrusted(answer)
        if problem is not None:
            raise UnknownOutcomeError(f"UnionPay {what}: {problem}", channel_code=answer.get("respCode"))
        return answer

    def untrusted(self, fields: Mapping[str, str]) -> str | None:
        """Why ``fields`` (an answer or a notify) cannot be believed, or None when UnionPay signed them."""
        pem = fields.get("signPubKeyCert", "")
        if not pem or not fields.get("signature"):
            return "unsigned message (no signPubKeyCert or signature)"
        key = self._trusted_key(pem)
        if isinstance(key, str):
            return key
        if not signing.verify(key, fields):
            return "signature does not verify"
        return None

    def _trusted_key(self, pem: str) -> rsa.RSAPublicKey | str:
        with self._lock:
            known = self._trusted.get(pem)
        if known is not None:
            return known
        try:
            cert = signing.load_certificate(pem)
            signing.check_chain(cert, self.anchors.middle, self.anchors.root, self.clock.now())
        except ValueError as exc:  # CertificateRejected is a ValueError
            return f"signPubKeyCert rejected: {exc}"
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            return "signPubKeyCert holds no RSA key"
        with self._lock:
            if len(self._trusted) > 16:  # a rotation every few years: a handful at most, never unbounded
                self._trusted.clear()
            self._trusted[pem] = key
        return key


def raise_for_resp(answer: Mapping[str, str], *, mutating: bool) -> None:
    """Translate a ``respCode`` other than 00 into the error tree (nothing for 00).

    03/04/05 mean "accepted, result unknown": a query decides. 02/06 were not carried out and may be asked
    again (for a mutating call the gateway's guidance is still to query, so they count as unknown there).
    The codes in :data:`TERMINAL` were refused; anything unrecognised is treated as unknown.
    """
    code = answer.get("respCode", "")
    if code == SUCCESS:
        return
    message = f"UnionPay {answer.get('txnType', '?')}: {code} {answer.get('respMsg', '')}".rstrip()
    error: type[ChannelError]
    if code in IN_PROGRESS:
        error = UnknownOutcomeError
    elif code in RETRYABLE:
        error = UnknownOutcomeError if mutating else RetryableChannelError
    elif code in TERMINAL or code == NO_SUCH_TRANSACTION:
        error = TerminalChannelError
    else:
        error = UnknownOutcomeError
    raise error(message, channel_code=code or None)


def parse_txn_time(text: str | None) -> datetime | None:
    """A ``txnTime`` (Beijing ``yyyyMMddHHmmss``) as aware UTC; None when absent or malformed."""
    if not text:
        return None
    try:
        naive = datetime.strptime(text, TXN_TIME_FORMAT)  # noqa: DTZ007 - zone attached below
    except ValueError:
        return None
    return naive.replace(tzinfo=BUSINESS_TZ).astimezone(UTC)


def parse_trace_time(text: str | None, order_time: datetime | None) -> datetime | None:
    """``traceTime`` (Beijing ``MMddHHmmss``, no year) as aware UTC, in the year that puts it nearest the
    order's own ``txnTime``: an order of 31 Dec paid on 1 Jan is paid next year, and a merchant whose clock
    runs a little ahead of UnionPay's at New Year is not a year off. (Nearest, not "not before": an order's
    time is the merchant's clock, the trace UnionPay's.)"""
    if not text or order_time is None or len(text) != 10 or not text.isdigit():
        return None
    local_order = order_time.astimezone(BUSINESS_TZ)
    candidates = []
    for year in (local_order.year - 1, local_order.year, local_order.year + 1):
        try:
            candidates.append(datetime.strptime(f"{year}{text}", TXN_TIME_FORMAT).replace(tzinfo=BUSINESS_TZ))
        except ValueError:  # 29 Feb in a year without one
            continue
    if not candidates:
        return None
    return min(candidates, key=lambda moment: abs(moment - local_order)).astimezone(UTC)
