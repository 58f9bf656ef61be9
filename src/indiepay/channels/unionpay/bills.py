"""UnionPay reconciliation files: ``fileTransfer.do`` (文件传输, ``txnType`` 76) on the file host.

One signed server call per clearing day (``settleDate`` is ``MMdd``: the gateway serves the most recent
such day) answers, like every other call, with a signed ``k=v`` message — so the file is vouched for by
UnionPay's signature over ``fileContent`` itself: base64 of a zlib stream of the zip whose ``ZM`` entry the
reconciliation parser reads. ``respCode`` ``98`` (文件不存在) means not published yet → :class:`BillNotReady`.
Content that does not decode or inflate although its signature verified is a :class:`BillHashMismatch`
(reject and alert, as a WeChat Pay bill failing its announced digest). UnionPay publishes one file kind
here; a ``fundflow`` bill is refused without calling.

The clearing day is UnionPay's, not the calendar day: it runs from 23:00 Beijing time the evening before
(see :mod:`indiepay.reconciliation.parsers.unionpay`), so ``BillFile.bill_date`` names the clearing day.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from datetime import date

from indiepay.channels.base import BillFile, BillHashMismatch, BillKind, BillKindUnsupported, BillNotReady
from indiepay.channels.unionpay.client import FILE_PATH, UnionpayClient, raise_for_resp, txn_time

FILE_NOT_FOUND = "98"
ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"


def file_request(client: UnionpayClient, clearing_day: date) -> dict[str, str]:
    """The fields of the file request for ``clearing_day`` (unsigned; the client adds the common ones)."""
    return {"txnType": "76", "txnSubType": "01", "bizType": "000000", "fileType": "00",
            "settleDate": f"{clearing_day:%m%d}", "txnTime": txn_time(client.clock.now())}


def decode_file_content(text: str) -> bytes:
    """``fileContent`` → the zip: base64, then inflate (a zlib stream, as the acp SDK's ``inflater``).

    Raises:
        BillHashMismatch: not base64, not a zlib stream, or not a zip archive inside.
    """
    try:
        packed = base64.b64decode(text, validate=True)
        content = zlib.decompress(packed)
    except (binascii.Error, ValueError, zlib.error) as exc:
        raise BillHashMismatch(f"UnionPay fileContent does not decode: {exc}", channel_code="FILE_CONTENT") from exc
    if not content.startswith((ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        raise BillHashMismatch("UnionPay fileContent is not a zip archive", channel_code="FILE_CONTENT")
    return content


def fetch_bill(client: UnionpayClient, kind: str, bill_date: date) -> BillFile:
    """Download the reconciliation file of the clearing day ``bill_date``.

    Raises:
        BillKindUnsupported: ``kind`` is not ``trade``.
        BillNotReady: ``98``, not published yet.
        BillHashMismatch: a signed answer whose file does not decode.
        UnknownOutcomeError, RetryableChannelError, TerminalChannelError: the call failed
            (see :meth:`UnionpayClient.call` and :func:`raise_for_resp`).
    """
    if kind != BillKind.TRADE:
        raise BillKindUnsupported(f"UnionPay publishes no {kind} file here", channel_code="BILL_UNSUPPORTED")
    answer = client.call(FILE_PATH, file_request(client, bill_date), mutating=False, base=client.file_url)
    if answer.get("respCode") == FILE_NOT_FOUND:
        raise BillNotReady(f"UnionPay file for {bill_date} is not ready: {answer.get('respMsg', '')}".rstrip(),
                           channel_code=FILE_NOT_FOUND)
    raise_for_resp(answer, mutating=False)
    text = answer.get("fileContent", "")
    if not text:
        raise BillHashMismatch("UnionPay file answer without fileContent", channel_code="FILE_CONTENT")
    content = decode_file_content(text)
    return BillFile(channel="unionpay", kind=BillKind.TRADE, bill_date=bill_date, content=content,
                    sha1=hashlib.sha1(content, usedforsecurity=False).hexdigest())
