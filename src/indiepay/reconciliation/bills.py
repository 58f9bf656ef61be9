"""Reading a bill: sniff its format, take its SHA1 and a gzip copy to store (one pass in 1 MiB blocks), then
read its rows into the normalised bill (a second pass). A WeChat Pay fund-flow bill is read the same way,
but its rows are only added up for the fund-flow check (:func:`read_fundflow_bill`, :mod:`.fundflow`).

A WeChat Pay trade bill (CSV, optionally gzip-compressed as downloaded) never exists as Python objects or
as one ``bytes``: DuckDB reads the file itself (:mod:`.columnar_bill`; in place when it is a plain file on
disk, else from a plain copy the first pass writes) into Parquet, and the few bills it does not read
exactly as the Python reader would are streamed through that reader into the normalised CSV instead.
Only the compressed copy (≈ 8 % of the file) is kept in memory for the database. An Alipay bill and a
UnionPay file are zips, read whole and their rows streamed by the Python readers; a UnionPay file's day
is the clearing day its entry names, not the day of its first row (which may be 23:00 the evening before);
its ZM entry is extracted to disk and read by DuckDB (:mod:`.columnar_unionpay`), or by the Python reader
from that copy when DuckDB cannot read it exactly.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import BinaryIO, cast

import duckdb

from indiepay.accounts.models import ChannelAccount
from indiepay.channels.registry import channel_spec
from indiepay.core.clock import business_day
from indiepay.core.errors import InvalidRequest
from indiepay.reconciliation.columnar_bill import PlainText, merchant_no_of, scan_trade_bill
from indiepay.reconciliation.columnar_unionpay import scan_zm
from indiepay.reconciliation.errors import BillAccountMismatch, BillArchiveError, BillEmpty
from indiepay.reconciliation.fundflow import FlowTally
from indiepay.reconciliation.parsers.alipay import AlipayBillArchive
from indiepay.reconciliation.parsers.normalised import ChannelRow, write_normalised_csv
from indiepay.reconciliation.parsers.unionpay import is_unionpay_bill_zip, open_unionpay_bill_zip, parse_zm_lines
from indiepay.reconciliation.parsers.wechat_fundflow import WechatFundFlowBillReader
from indiepay.reconciliation.parsers.wechat_trade import TradeBillSummary, WechatTradeBillReader, WechatTradeRow
from indiepay.vault.envelope import fingerprint

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
WECHATPAY, ALIPAY, UNIONPAY = "wechatpay", "alipay", "unionpay"
TRADE, FUNDFLOW = "trade", "fundflow"
BLOCK = 1 << 20
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class ReadBill:
    """A bill read once: what to store and what the matcher loads."""

    channel: str
    sha1: str  # of the uncompressed file
    size: int
    content_gz: bytes
    rows: int
    first_day: date | None  # business day of the first row, to date a hand import without --date
    normalised: Path
    select: str | None = None  # set when DuckDB read the rows into the matcher's database (see read_bill)
    summary: TradeBillSummary | None = None  # a WeChat Pay bill's summary row (checked against its rows)
    # whose bill it says it is: WeChat Pay's 商户号, Alipay's partner id (2088…), UnionPay's merId; None when
    # it does not say (a bill without rows), columnar_bill.SEVERAL when its rows disagree
    merchant_no: str | None = None


def _digest(raw: BinaryIO, check: PlainText | None, copy: BinaryIO | None,
            stored: bytes | None = None) -> tuple[str, int, bytes]:
    """SHA1, size and a gzip copy of the whole stream, read in large blocks (a pass of its own: hashing
    line by line inside the parser's loop would cost more than the second read). The same pass feeds the
    fast path's byte check and, when DuckDB cannot read the source itself, writes the plain copy it reads.
    ``stored``: the bill's own gzip bytes (it came compressed), kept as the copy instead of compressing it
    again — the larger part of this pass on a plain bill."""
    sha1 = hashlib.sha1(usedforsecurity=False)
    size = 0
    buffer = io.BytesIO()
    with contextlib.ExitStack() as stack:
        packed = None if stored is not None else stack.enter_context(
            gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0))
        while block := raw.read(BLOCK):
            sha1.update(block)
            size += len(block)
            if packed is not None:
                packed.write(block)
            if check is not None:
                check.update(block)
            if copy is not None:
                copy.write(block)
    return sha1.hexdigest(), size, stored if stored is not None else buffer.getvalue()


def _as_delivered(stream: BinaryIO) -> bytes | None:
    """The stream's own bytes when it is gzip-compressed (a WeChat Pay download, a stored bill, a ``.gz``
    import): stored as they are. The stream is left at its start."""
    head = stream.read(2)
    stream.seek(0)
    if head != GZIP_MAGIC:
        return None
    delivered = stream.read()
    stream.seek(0)
    return delivered


def _file_of(stream: BinaryIO, raw: BinaryIO) -> Path | None:
    """The path of an uncompressed bill that is a regular file on disk (DuckDB then reads it in place)."""
    name = getattr(stream, "name", None)
    if raw is not stream or not isinstance(name, str) or not isinstance(stream, io.BufferedReader):
        return None
    path = Path(name)
    return path if path.is_file() else None


_CORRUPT_GZIP = (gzip.BadGzipFile, EOFError, zlib.error)
"""What reading a corrupt or truncated gzip stream raises (``BadGzipFile`` is the gzip module's ``OSError``;
any other ``OSError`` comes from the file underneath — a failing disk is the server's fault, not the bill's)."""


def _corrupt_gzip(exc: Exception) -> BillArchiveError:
    return BillArchiveError(f"the gzip-compressed bill is truncated or corrupt: {exc}",
                            details={"compression": "gzip"})


class _Gunzipped(gzip.GzipFile):
    """A gunzipping view of a bill whose corrupt or truncated stream raises :class:`BillArchiveError` from
    every read, wherever the damage lies (the header, the deflate data, the trailer, trailing bytes), and
    whoever reads: the sniffing, the hashing pass, the readers iterating its lines."""

    def read(self, size: int | None = -1) -> bytes:
        try:
            return super().read(size)
        except _CORRUPT_GZIP as exc:
            raise _corrupt_gzip(exc) from exc

    def read1(self, size: int = -1) -> bytes:
        try:
            return super().read1(size)
        except _CORRUPT_GZIP as exc:
            raise _corrupt_gzip(exc) from exc

    def peek(self, n: int) -> bytes:
        try:
            return super().peek(n)
        except _CORRUPT_GZIP as exc:
            raise _corrupt_gzip(exc) from exc

    def readline(self, size: int | None = -1) -> bytes:  # also each step of iterating the lines
        try:
            return super().readline(size)
        except _CORRUPT_GZIP as exc:
            raise _corrupt_gzip(exc) from exc

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:  # a forward seek decompresses
        try:
            return super().seek(offset, whence)
        except _CORRUPT_GZIP as exc:
            raise _corrupt_gzip(exc) from exc


def _uncompressed(stream: BinaryIO) -> BinaryIO:
    """The stream itself, or a gunzipping view of it when it starts with the gzip magic (whose reads raise
    :class:`BillArchiveError` when the stream is corrupt or truncated)."""
    head = stream.read(2)
    stream.seek(0)
    if head == GZIP_MAGIC:
        return cast(BinaryIO, _Gunzipped(fileobj=stream, mode="rb"))
    return stream


def sniff(archive: bytes | None) -> str:
    """``unionpay`` for a zip archive with a UnionPay ZM entry, ``alipay`` for any other zip, ``wechatpay``
    for a file that is no zip (``None``); each parser rejects what it is not."""
    if archive is None:
        return WECHATPAY
    return UNIONPAY if is_unionpay_bill_zip(archive) else ALIPAY


def _closing(source: BinaryIO, rows: Iterator[ChannelRow]) -> Iterator[ChannelRow]:
    with source:
        yield from rows


def _first_day(rows: Iterable[ChannelRow], seen: list[date]) -> Iterator[ChannelRow]:
    for row in rows:
        if not seen:
            seen.append(business_day(row.event_time))
        yield row


def read_bill(stream: BinaryIO, normalised: Path, *, into: duckdb.DuckDBPyConnection | None = None) -> ReadBill:
    """Parse a bill from a seekable binary stream (a WeChat CSV, gzip or not, an Alipay or UnionPay zip) into the
    normalised bill next to ``normalised`` (that CSV, or a Parquet file of the same columns when DuckDB
    read the bill: :mod:`.columnar_bill`, which falls back here to the Python reader for any
    bill it cannot read exactly as that reader would). Given ``into`` (a connection to the matcher's
    database), DuckDB reads the bill into it instead of a Parquet file, and ``select`` reads it back.

    Raises:
        BillError subclasses: the file is not a well-formed bill or disagrees with its own summary.
    """
    delivered = _as_delivered(stream)
    raw = _uncompressed(stream)
    head = raw.read(4)
    if not head:
        raise BillEmpty("the bill file is empty")
    raw.seek(0)  # a gzip view rewinds by restarting its decompression
    archive = raw.read() if head.startswith(ZIP_MAGIC) else None  # a zip is small and read whole, once
    channel = sniff(archive)
    raw.seek(0)
    source = _file_of(stream, raw)
    check = PlainText() if channel == WECHATPAY else None
    plain = normalised.with_suffix(".raw")
    if check is not None and source is None:
        with plain.open("wb") as copy:
            sha1, size, packed = _digest(raw, check, copy, delivered)
        source = plain
    else:
        sha1, size, packed = _digest(raw, check, None, delivered)
    if check is not None and source is not None and check.finish():
        fast = scan_trade_bill(source, normalised.with_suffix(".parquet"), newlines=check.newlines,
                               commas=check.commas, into=into)
        if fast is not None:
            return ReadBill(channel=channel, sha1=sha1, size=size, content_gz=packed, rows=fast.rows,
                            first_day=fast.first_day, normalised=fast.normalised, select=fast.select,
                            summary=fast.summary, merchant_no=fast.merchant_no)
    raw.seek(0)
    seen: list[date] = []
    reader = WechatTradeBillReader(raw) if channel == WECHATPAY else None
    numbers: set[str] = set()
    rows: Iterable[ChannelRow]
    alipay: AlipayBillArchive | None = None
    if reader is not None:
        rows = _noting_merchants(reader, numbers)
    elif channel == UNIONPAY:
        unionpay = open_unionpay_bill_zip(archive or b"")
        zm = normalised.with_suffix(".zm")
        fast = scan_zm(zm, unionpay.clearing_day, unionpay.extract(zm), normalised.with_suffix(".parquet"),
                       into=into)
        if fast is not None:
            return ReadBill(channel=channel, sha1=sha1, size=size, content_gz=packed, rows=fast.rows,
                            first_day=fast.first_day, normalised=fast.normalised, select=fast.select,
                            merchant_no=unionpay.mer_id)
        numbers.add(unionpay.mer_id)
        seen.append(unionpay.clearing_day)  # the file's own day: its first row may be from 23:00 the day before
        zm_file = zm.open("rb")  # closed when the stream of rows ends (or fails)
        rows = _closing(zm_file, parse_zm_lines(zm_file, unionpay.clearing_day))
    else:
        rows = alipay = AlipayBillArchive(archive or b"")
    with normalised.open("w", encoding="utf-8", newline="") as out:
        count = write_normalised_csv(_first_day(rows, seen), out)
    if alipay is not None and alipay.reader.account:
        numbers.add(alipay_partner(alipay.reader.account))
    return ReadBill(channel=channel, sha1=sha1, size=size, content_gz=packed, rows=count,
                    first_day=seen[0] if seen else None, normalised=normalised,
                    summary=reader.summary if reader is not None else None, merchant_no=merchant_no_of(numbers))


def check_account(account: ChannelAccount, read: ReadBill) -> None:
    """The bill is the account's own: the merchant number it names has the fingerprint of the account's
    credential (the value itself stays sealed). Nothing to compare when the bill names none (no rows) or the
    account holds no such credential.

    Raises:
        BillAccountMismatch: it names another account, or several.
    """
    field = channel_spec(account.channel).bill_account_field
    sealed = account.credentials.get(field) if field is not None else None
    expected = sealed.get("fingerprint") if isinstance(sealed, dict) else None
    if expected is None or read.merchant_no is None or fingerprint(read.merchant_no) == expected:
        return
    raise BillAccountMismatch(f"the bill is for merchant account {read.merchant_no}, not this account's {field}",
                              details={"account_id": account.id, "field": field, "bill_account": read.merchant_no})


def alipay_partner(account: str) -> str:
    """The partner id (``2088`` + 12 digits) in an Alipay bill's ``#账号``, which appends ``0156`` to it."""
    return account[:-4] if len(account) == 20 and account.endswith("0156") else account


def _noting_merchants(rows: Iterable[WechatTradeRow], numbers: set[str]) -> Iterator[WechatTradeRow]:
    for row in rows:
        numbers.add(row.mch_id)
        yield row


@dataclass(frozen=True)
class ReadFundFlow:
    """A WeChat Pay fund-flow bill read once: what to store, and its rows added up for the fund-flow check."""

    sha1: str  # of the uncompressed file
    size: int
    content_gz: bytes
    tally: FlowTally
    first_day: date | None  # business day of the first booking, to date a hand import without --date


def sniff_kind(stream: BinaryIO) -> str:
    """``fundflow`` for a WeChat Pay fund-flow bill (its header starts with 记账时间 and names 资金流水单号),
    ``trade`` for anything else (a trade bill, an Alipay zip — their readers reject what they are not).
    Reads the first line of the (uncompressed) stream and rewinds it."""
    raw = _uncompressed(stream)
    head = raw.readline(SNIFF_BYTES).decode("utf-8", errors="replace").lstrip("\ufeff")
    stream.seek(0)
    return FUNDFLOW if head.startswith("记账时间") and "资金流水单号" in head else TRADE


def read_fundflow_bill(stream: BinaryIO) -> ReadFundFlow:
    """Read a WeChat Pay fund-flow bill (CSV, gzip or not) from a seekable stream: SHA1, size and a gzip copy
    in one pass, then its rows, streamed and added up (:func:`.fundflow.tally`), checked against its own
    summary at the end.

    Raises:
        BillError subclasses: the file is not a well-formed fund-flow bill or disagrees with its summary.
    """
    delivered = _as_delivered(stream)
    raw = _uncompressed(stream)
    if not raw.read(1):
        raise BillEmpty("the bill file is empty")
    raw.seek(0)
    sha1, size, packed = _digest(raw, None, None, delivered)
    raw.seek(0)
    flow = FlowTally()
    first: date | None = None
    for row in WechatFundFlowBillReader(raw):
        if first is None:
            first = business_day(row.booked_at)
        flow.add(row)
    return ReadFundFlow(sha1=sha1, size=size, content_gz=packed, tally=flow, first_day=first)


def read_stored(content_gz: bytes, normalised: Path, *, into: duckdb.DuckDBPyConnection | None = None) -> ReadBill:
    """Parse a stored bill (its gzip copy) again, for a re-run or a neighbouring day."""
    return read_bill(io.BytesIO(content_gz), normalised, into=into)


def open_file(path: Path) -> BinaryIO:
    """Open a bill file from disk for :func:`read_bill`.

    Raises:
        InvalidRequest (``bill_file_unreadable``): no such file, a folder, no permission — the request
            names no bill, so this is not a bill error (those say the file's *content* is at fault).
    """
    if path.is_dir():  # opening a folder succeeds on some systems: say what it is
        reason = "it is a folder"
    else:
        try:
            return path.open("rb")
        except OSError as exc:
            reason = exc.strerror or str(exc)
    raise InvalidRequest(f"cannot read the bill file {path}: {reason}", code="bill_file_unreadable",
                         details={"path": str(path)})
