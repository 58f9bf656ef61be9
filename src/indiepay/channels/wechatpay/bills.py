"""WeChat Pay daily bills: apply for the download (signed, verified), download (signed, unsigned answer),
decompress and check the SHA1 the gateway announced.

Protocol (API v3, direct merchants):

* ``GET /v3/bill/tradebill?bill_date=YYYY-MM-DD&bill_type=ALL&tar_type=GZIP`` and
  ``GET /v3/bill/fundflowbill?bill_date=…&account_type=BASIC&tar_type=GZIP`` answer, signed like every
  v3 response, ``{"download_url", "hash_type": "SHA1", "hash_value"}``;
* ``GET download_url`` carries the usual Authorization signature, but its answer is **not** signed:
  the file is trusted only because its SHA1 — over the *uncompressed* CSV — equals the ``hash_value``
  of the verified answer. A file that does not match is rejected (:class:`BillHashMismatch`), never
  handed on;
* a bill that is not there yet is a 400 ``NO_STATEMENT_EXIST`` (no bill for that day, yet — WeChat says
  the same for a day without trades) or ``STATEMENT_CREATING`` (being generated; WeChat generates the
  previous day's bills from 09:00 Beijing time) → :class:`BillNotReady`, to be retried later.

The gzip stream is decompressed and hashed in one pass; the uncompressed CSV is what the bill parsers
read and what :class:`~indiepay.channels.base.BillFile` carries.
"""

from __future__ import annotations

import hashlib
import hmac
import zlib
from dataclasses import dataclass
from datetime import date

from indiepay.channels.base import (
    BillFile,
    BillHashMismatch,
    BillKind,
    BillKindUnsupported,
    BillNotReady,
    RetryableChannelError,
    TerminalChannelError,
    UnknownOutcomeError,
)
from indiepay.channels.wechatpay.client import WechatPayClient

TRADE_BILL_PATH = "/v3/bill/tradebill"
FUNDFLOW_BILL_PATH = "/v3/bill/fundflowbill"
NOT_READY_CODES = frozenset({"NO_STATEMENT_EXIST", "STATEMENT_CREATING"})
_CHUNK = 1 << 20


@dataclass(frozen=True)
class BillAnnouncement:
    """The verified answer to a bill application: where to download and what the file must hash to."""

    download_url: str
    hash_type: str
    hash_value: str


def bill_request(kind: str, bill_date: date) -> tuple[str, dict[str, str]]:
    """(path, query) of the application for ``kind`` on ``bill_date``: the ALL trade bill, or the BASIC
    account's fund-flow bill, both gzipped.

    Raises:
        BillKindUnsupported: ``kind`` is neither ``trade`` nor ``fundflow``.
    """
    day = bill_date.isoformat()
    if kind == BillKind.TRADE:
        return TRADE_BILL_PATH, {"bill_date": day, "bill_type": "ALL", "tar_type": "GZIP"}
    if kind == BillKind.FUNDFLOW:
        return FUNDFLOW_BILL_PATH, {"bill_date": day, "account_type": "BASIC", "tar_type": "GZIP"}
    raise BillKindUnsupported(f"WeChat Pay has no {kind!r} bill (trade or fundflow)",
                              channel_code="UNSUPPORTED_BILL_KIND")


def apply_for_bill(client: WechatPayClient, kind: str, bill_date: date) -> BillAnnouncement:
    """Ask for the bill's download URL and digest (a signed, verified call).

    Raises:
        BillNotReady: ``NO_STATEMENT_EXIST`` / ``STATEMENT_CREATING``.
        UnknownOutcomeError: a success without ``download_url`` / ``hash_value``.
        TerminalChannelError, RetryableChannelError: see :mod:`.client`.
    """
    path, query = bill_request(kind, bill_date)
    try:
        data = client.call("GET", path, query=query, mutating=False).data
    except TerminalChannelError as exc:
        if exc.channel_code in NOT_READY_CODES:
            raise BillNotReady(f"WeChat Pay {kind} bill for {bill_date} is not ready: {exc.message}",
                               channel_code=exc.channel_code, http_status=exc.http_status) from exc
        raise
    url, hash_type, hash_value = (data.get(name) for name in ("download_url", "hash_type", "hash_value"))
    if not (isinstance(url, str) and url and isinstance(hash_value, str) and hash_value):
        raise UnknownOutcomeError(f"WeChat Pay {kind} bill answer lacks download_url or hash_value")
    return BillAnnouncement(download_url=url, hash_type=str(hash_type or "SHA1"), hash_value=hash_value)


def unpack_and_check(raw: bytes, announcement: BillAnnouncement, *, gzipped: bool = True) -> bytes:
    """The uncompressed bill, after checking its SHA1 against the announced ``hash_value``.

    Raises:
        BillHashMismatch: the digest differs, or the gzip stream is corrupt or truncated.
        UnknownOutcomeError: a ``hash_type`` other than SHA1 (nothing to check the file with).
    """
    if announcement.hash_type.upper() != "SHA1":
        raise UnknownOutcomeError(f"WeChat Pay announced an unknown hash_type {announcement.hash_type!r}")
    digest = hashlib.sha1(usedforsecurity=False)
    if gzipped:
        decompressor = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        parts: list[bytes] = []
        try:
            for start in range(0, len(raw), _CHUNK):
                part = decompressor.decompress(raw[start:start + _CHUNK])
                digest.update(part)
                parts.append(part)
            tail = decompressor.flush()
        except zlib.error as exc:
            raise BillHashMismatch(f"the downloaded bill is not a valid gzip stream: {exc}",
                                   channel_code="BAD_GZIP") from exc
        if not decompressor.eof:
            raise BillHashMismatch("the downloaded bill ends inside its gzip stream (truncated)",
                                   channel_code="BAD_GZIP")
        digest.update(tail)
        parts.append(tail)
        content = b"".join(parts)
    else:
        content = raw
        digest.update(content)
    actual = digest.hexdigest()
    if not hmac.compare_digest(actual, announcement.hash_value.strip().lower()):
        raise BillHashMismatch(f"bill SHA1 {actual} does not match the announced {announcement.hash_value}",
                               channel_code="HASH_MISMATCH")
    return content


def fetch_bill(client: WechatPayClient, kind: str, bill_date: date) -> BillFile:
    """Apply, download, decompress and check one bill (see the module docstring).

    Raises:
        BillNotReady, BillHashMismatch, BillKindUnsupported, and the client's errors; a download the
        gateway refuses (4xx, typically an expired link) is a RetryableChannelError, since the next
        application hands out a fresh link.
    """
    announcement = apply_for_bill(client, kind, bill_date)
    try:
        raw = client.download(announcement.download_url)
    except TerminalChannelError as exc:  # e.g. an expired link: applying again yields a fresh one
        raise RetryableChannelError(f"WeChat Pay bill download refused: {exc.message}",
                                    channel_code=exc.channel_code, http_status=exc.http_status) from exc
    content = unpack_and_check(raw, announcement)
    return BillFile(channel="wechatpay", kind=str(BillKind(kind)), bill_date=bill_date, content=content,
                    sha1=announcement.hash_value.strip().lower(), content_gz=raw)
