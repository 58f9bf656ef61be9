"""Alipay daily bills: ``alipay.data.dataservice.bill.downloadurl.query``, then the download itself.

The query is an ordinary signed gateway call whose answer is verified like every other
(``bill_download_url``, valid for 30 seconds). The download is a plain GET of that URL — Alipay signs
neither the request nor the file — and returns a zip of GBK CSVs (detail and summary), which is handed on
as is: the zip is what the bill parser reads, and its own detail-against-summary checks are the file's
integrity check, since Alipay announces no digest. ``BillFile.sha1`` is computed here so that runs can
record what they reconciled against.

A bill that is not there yet answers ``40004`` with ``sub_code`` ``isp.bill_not_exist`` →
:class:`BillNotReady`. Only ``bill_type=trade`` (the merchant's business bill) maps onto the port;
``signcustomer`` (account flow) is a different format that nothing here reads, so ``fundflow`` is
refused with :class:`BillKindUnsupported` without calling the gateway.
"""

from __future__ import annotations

import hashlib
import zipfile
from datetime import date
from io import BytesIO

import httpx

from indiepay.channels.alipay.client import AlipayClient, raise_for_code
from indiepay.channels.base import (
    BillFile,
    BillKind,
    BillKindUnsupported,
    BillNotReady,
    RetryableChannelError,
    UnknownOutcomeError,
)

METHOD = "alipay.data.dataservice.bill.downloadurl.query"
NOT_READY_SUB_CODES = frozenset({"isp.bill_not_exist"})


def query_download_url(client: AlipayClient, bill_date: date) -> str:
    """The verified ``bill_download_url`` of the trade bill of ``bill_date``.

    Raises:
        BillNotReady: ``isp.bill_not_exist``.
        UnknownOutcomeError: a success without ``bill_download_url``, or an unverifiable answer.
        TerminalChannelError, RetryableChannelError: see :func:`raise_for_code`.
    """
    response = client.call(METHOD, {"bill_type": "trade", "bill_date": bill_date.isoformat()}, mutating=False)
    if response.sub_code in NOT_READY_SUB_CODES:
        raise BillNotReady(f"Alipay trade bill for {bill_date} is not ready: {response.sub_msg or ''}",
                           channel_code=response.sub_code)
    raise_for_code(response, mutating=False)
    url = response.field("bill_download_url")
    if not url:
        raise UnknownOutcomeError(f"{METHOD}: success without bill_download_url")
    return url


def download(http: httpx.Client, url: str) -> bytes:
    """GET the (unsigned) download URL and return the zip.

    Raises:
        RetryableChannelError: transport failure, a non-200 answer (typically an expired link: query
            again for a fresh one) or something that is not a zip archive.
    """
    try:
        response = http.get(url, headers={"Accept": "*/*"})
    except httpx.HTTPError as exc:
        raise RetryableChannelError(f"Alipay bill download failed: {exc!r}") from exc
    if response.status_code != 200:
        raise RetryableChannelError(f"Alipay bill download answered HTTP {response.status_code}",
                                    http_status=response.status_code)
    content = response.content
    if not zipfile.is_zipfile(BytesIO(content)):
        raise RetryableChannelError("Alipay bill download is not a zip archive (expired link?)",
                                    http_status=response.status_code)
    return content


def fetch_bill(client: AlipayClient, kind: str, bill_date: date) -> BillFile:
    """Query the URL and download the trade bill zip of ``bill_date``.

    Raises:
        BillKindUnsupported: ``kind`` is not ``trade``.
        BillNotReady, and the errors of :func:`query_download_url` and :func:`download`.
    """
    if kind != BillKind.TRADE:
        raise BillKindUnsupported(f"Alipay publishes no {kind!r} bill here; only 'trade' is supported",
                                  channel_code="UNSUPPORTED_BILL_KIND")
    content = download(client.http, query_download_url(client, bill_date))
    return BillFile(channel="alipay", kind=str(BillKind.TRADE), bill_date=bill_date, content=content,
                    sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest())
