"""UnionPay online-payment merchant reconciliation file (全渠道商户对账文件, ``fileTransfer.do``, ``fileType 00``).

The gateway answers ``fileContent`` (base64 of a zlib stream; the channel package undoes both) holding a zip
named ``<merId>_<yyyyMMdd>.zip``. Its entry ``INN<yyMMdd><2 chars>ZM_<merId>`` is the **general transaction
detail file** (一般交易明细流水文件, "ZM"): one transaction per line, fixed-width fields separated by one
space, no header and no totals. ``…ZME_<merId>`` (差错交易明细: disputes and adjustments) is not read here.
The date in the entry name is the **clearing day** (清算日期): UnionPay's clearing day runs from 23:00 Beijing
time the evening before to 23:00, so a payment at 23:30 is in the next day's file.

Fields (:data:`LAYOUT`; widths as the acp file interface lists them): amounts are fen — ``交易金额`` twelve
digits, the others ``X+n12``: ``C`` (credit to the merchant) or ``D`` (debit) and twelve digits. The
transaction time (``交易传输时间``, the gateway's ``traceTime``) has no year: it is taken from the clearing
day, or the year before for a December transaction in a January file. Rows are read by ``交易类型``:
``01`` 消费 is a payment; ``04`` 退货 and ``31`` 消费撤销 give money back (their ``商户订单号`` is the refund's
number, ``原始交易订单号`` the payment's). Any other type is refused: this platform never sends one, so
such a row is money it cannot place, and reconciling around it would hide it.

The file's own check, per row in place of a summary: ``结算金额`` must equal ``交易金额`` (signed: credit for
a payment, debit for a refund) plus ``商户手续费`` (signed: debited on a payment, credited back on a
refund), and ``清算净额``, when printed, the settlement minus any ``二级商户分账入账金额``. The fee sign
(``D`` = charged) is read from the field's definition, not from a real file.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO

from indiepay.core.clock import BUSINESS_TZ
from indiepay.reconciliation.errors import (
    BillAmountError,
    BillArchiveError,
    BillFormatError,
    BillTotalsMismatch,
)
from indiepay.reconciliation.parsers.common import ZIP_DATA_ERRORS, ZIP_ERRORS

ENCODING = "gb18030"
LAYOUT: tuple[tuple[str, int], ...] = (
    ("txn_code", 3), ("acq_ins_code", 11), ("send_ins_code", 11), ("trace_no", 6), ("trace_time", 10),
    ("card_no", 19), ("txn_amt", 12), ("mer_cat_code", 4), ("term_type", 2), ("query_id", 21),
    ("old_pay_type", 2), ("order_id", 32), ("pay_card_type", 2), ("orig_trace_no", 6), ("orig_trace_time", 10),
    ("mer_fee", 13), ("settle_amt", 13), ("pay_type", 4), ("group_mer_id", 15), ("txn_type", 2),
    ("txn_sub_type", 2), ("biz_type", 6), ("acc_type", 2), ("bill_type", 4), ("bill_no", 32),
    ("interact_mode", 1), ("orig_qry_id", 21), ("mer_id", 15), ("split_type", 1), ("sub_mer_id", 15),
    ("sub_mer_abbr", 32), ("split_amt", 13), ("net_amt", 13), ("term_id", 8), ("mer_reserved", 32),
    ("discount_amt", 13), ("invoice_amt", 13), ("instalment_fee", 12), ("instalment_count", 2),
    ("txn_medium", 1), ("orig_order_id", 32), ("reserved", 98),
)
"""The ZM fields in order: (name, width in bytes). One space separates neighbours."""

OFFSETS: dict[str, tuple[int, int]] = {}
_position = 0
for _name, _width in LAYOUT:
    OFFSETS[_name] = (_position, _position + _width)
    _position += _width + 1
LINE_BYTES = _position - 1
"""A full line's length without its line break; the reserved tail may be shorter or absent."""
REQUIRED_BYTES = OFFSETS["orig_order_id"][1]

PAYMENT_TYPES = frozenset({"01"})
REFUND_TYPES = frozenset({"04", "31"})
CREDIT, DEBIT = "C", "D"
_ENTRY = re.compile(r"INN(\d{6})..ZM_(\d+)")
_BLOCK = 1 << 20
_TIME = "%Y%m%d%H%M%S"


@dataclass(slots=True)
class UnionpayBillRow:
    """One ZM line, read. Amounts in fen; ``fee_fen`` positive when charged, negative when returned;
    ``settle_fen`` signed from the merchant's side (credit positive)."""

    kind: str  # payment | refund
    txn_type: str
    out_trade_no: str  # the payment's orderId (a refund's 原始交易订单号)
    out_refund_no: str  # a refund's own orderId; "" on payments
    query_id: str
    orig_query_id: str  # a refund's original queryId; "" on payments
    amount_fen: int
    fee_fen: int
    settle_fen: int
    event_time: datetime  # aware Asia/Shanghai
    mer_id: str
    trace_no: str = ""
    card_no: str = ""
    line_no: int = 0


@dataclass(frozen=True, slots=True)
class UnionpayBill:
    """The archive's detail entry: whose it is, its clearing day, and its lines (read from the archive as
    they are needed: a million-row entry is ~600 MB, its zip a twentieth of that)."""

    mer_id: str
    clearing_day: date
    entry_name: str
    archive: bytes

    def lines(self) -> Iterator[bytes]:
        """The ZM entry's lines, streamed out of the archive.

        Raises:
            BillArchiveError: the entry is corrupt (bad CRC, truncated data).
        """
        try:
            with zipfile.ZipFile(io.BytesIO(self.archive)) as archive, archive.open(self.entry_name) as entry:
                yield from entry
        except ZIP_ERRORS as exc:
            raise BillArchiveError(f"the UnionPay archive entry {self.entry_name} cannot be read: {exc}") from exc

    def rows(self) -> Iterator[UnionpayBillRow]:
        return parse_zm_lines(self.lines(), self.clearing_day)

    def extract(self, path: Path) -> int:
        """Write the ZM entry to ``path``, in blocks, for :mod:`..columnar_unionpay`; returns its number of
        lines (the last may lack its line break).

        Raises:
            BillArchiveError: the entry is corrupt.
        """
        newlines, last = 0, b""
        try:
            archive = zipfile.ZipFile(io.BytesIO(self.archive))
            entry = archive.open(self.entry_name)
        except ZIP_ERRORS as exc:
            raise BillArchiveError(f"the UnionPay archive entry {self.entry_name} cannot be read: {exc}") from exc
        with archive, entry, path.open("wb") as out:  # a failing disk is not the archive's fault: not caught
            while block := self._read(entry):
                out.write(block)
                newlines += block.count(b"\n")
                last = block[-1:]
        return newlines + (1 if last and last != b"\n" else 0)

    def _read(self, entry: IO[bytes]) -> bytes:
        try:
            return entry.read(_BLOCK)
        except ZIP_DATA_ERRORS as exc:
            raise BillArchiveError(f"the UnionPay archive entry {self.entry_name} cannot be read: {exc}") from exc


def entry_name(mer_id: str, clearing_day: date, *, errors: bool = False) -> str:
    """The archive entry of a clearing day: ``INN<yyMMdd>88ZM_<merId>`` (``ZME_`` for the error file)."""
    return f"INN{clearing_day:%y%m%d}88{'ZME' if errors else 'ZM'}_{mer_id}"


def archive_name(mer_id: str, clearing_day: date) -> str:
    """The name the gateway gives the archive (its ``fileName``)."""
    return f"{mer_id}_{clearing_day:%Y%m%d}.zip"


def open_unionpay_bill_zip(content: bytes) -> UnionpayBill:
    """Find the ZM entry in the downloaded archive (its lines are read later, streaming).

    Raises:
        BillArchiveError: not a readable zip, or no (or more than one) ZM entry.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            names = archive.namelist()
    except ZIP_ERRORS as exc:
        raise BillArchiveError(f"the UnionPay archive cannot be read: {exc}") from exc
    found = [(name, match) for name in names if (match := _ENTRY.fullmatch(name.rsplit("/", 1)[-1])) is not None]
    if len(found) != 1:
        raise BillArchiveError(f"the UnionPay archive holds {len(found)} ZM entries, not one",
                               details={"entries": names})
    name, match = found[0]
    try:
        clearing = datetime.strptime(match.group(1), "%y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError as exc:
        raise BillArchiveError(f"the entry {name} names no valid clearing day") from exc
    return UnionpayBill(mer_id=match.group(2), clearing_day=clearing, entry_name=name, archive=content)


def is_unionpay_bill_zip(content: bytes) -> bool:
    """Whether a zip archive is a UnionPay reconciliation file (it has a ZM entry), without reading rows."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return any(_ENTRY.fullmatch(name.rsplit("/", 1)[-1]) for name in archive.namelist())
    except ZIP_ERRORS:  # not a readable zip at all: the Alipay reader says what is wrong with it
        return False


def parse_unionpay_bill_zip(content: bytes) -> Iterator[UnionpayBillRow]:
    """The rows of a downloaded archive (see the module docstring). Raises BillError subclasses."""
    return open_unionpay_bill_zip(content).rows()


def parse_zm_lines(lines: Iterable[bytes], clearing_day: date) -> Iterator[UnionpayBillRow]:
    """Read the ZM entry's lines (CRLF or LF; blank lines are skipped). An empty entry is a clearing day
    without transactions: no header or summary says otherwise, so it has no rows.

    Raises:
        BillFormatError / BillAmountError: a line that is not laid out as :data:`LAYOUT`.
        BillTotalsMismatch: a row whose settlement does not add up.
    """
    for line_no, raw in enumerate(lines, start=1):
        line = raw.rstrip(b"\r\n")
        if line.strip():
            yield _row(line, line_no, clearing_day)


def _text(raw: bytes, name: str, line_no: int) -> str:
    start, end = OFFSETS[name]
    try:
        return raw[start:end].decode(ENCODING).strip()
    except UnicodeDecodeError as exc:
        raise BillFormatError(f"line {line_no}: {name} is not valid {ENCODING}",
                              details={"line": line_no, "field": name}) from exc


def _fen(text: str, name: str, line_no: int, *, blank_ok: bool = False) -> int | None:
    if not text and blank_ok:
        return None
    if len(text) != 12 or not text.isdigit():
        raise BillAmountError(f"line {line_no}: {name} must be 12 digits of fen, not {text!r}",
                              details={"line": line_no, "field": name, "value": text})
    return int(text)


def _signed(text: str, name: str, line_no: int, *, blank_ok: bool = False) -> int | None:
    """An ``X+n12`` amount: C (credit, positive) or D (debit, negative) and twelve digits of fen."""
    if not text and blank_ok:
        return None
    sign, digits = text[:1], text[1:]
    if sign not in (CREDIT, DEBIT) or len(digits) != 12 or not digits.isdigit():
        raise BillAmountError(f"line {line_no}: {name} must be C or D and 12 digits of fen, not {text!r}",
                              details={"line": line_no, "field": name, "value": text})
    value = int(digits)
    return value if sign == CREDIT else -value


def event_time(trace_time: str, clearing_day: date, line_no: int) -> datetime:
    """``MMddHHmmss`` in the year of the clearing day, or the year before when that would put it after the
    clearing day (a transaction of 31 Dec 23:30 is cleared on 1 Jan). Aware Asia/Shanghai."""
    if len(trace_time) != 10 or not trace_time.isdigit():
        raise BillFormatError(f"line {line_no}: the transaction time {trace_time!r} is not MMddHHmmss",
                              details={"line": line_no, "field": "trace_time", "value": trace_time})
    latest = datetime.combine(clearing_day + timedelta(days=1), datetime.min.time(), BUSINESS_TZ)
    for year in (clearing_day.year, clearing_day.year - 1):
        try:
            moment = datetime.strptime(f"{year}{trace_time}", _TIME).replace(tzinfo=BUSINESS_TZ)
        except ValueError:  # 29 Feb in a year without one
            continue
        if moment < latest:
            return moment
    raise BillFormatError(f"line {line_no}: the transaction time {trace_time!r} does not fit the clearing day "
                          f"{clearing_day}", details={"line": line_no, "field": "trace_time", "value": trace_time})


def _row(raw: bytes, line_no: int, clearing_day: date) -> UnionpayBillRow:
    if len(raw) > LINE_BYTES + 2:  # room for one stray trailing byte either side of a reserved tail
        raise BillFormatError(f"line {line_no} is {len(raw)} bytes, longer than a ZM line ({LINE_BYTES})",
                              details={"line": line_no, "length": len(raw)})
    raw = raw.ljust(REQUIRED_BYTES)  # trailing blank fields may have been trimmed; a cut line fails below
    separators = [raw[end:end + 1] for _, end in list(OFFSETS.values())[:-1] if end < len(raw)]
    if any(sep != b" " for sep in separators):
        raise BillFormatError(f"line {line_no} is not laid out in the ZM file's fixed-width fields",
                              details={"line": line_no})

    def text(name: str) -> str:
        return _text(raw, name, line_no)

    txn_type = text("txn_type")
    if txn_type in PAYMENT_TYPES:
        kind, direction = "payment", 1
    elif txn_type in REFUND_TYPES:
        kind, direction = "refund", -1
    else:
        raise BillFormatError(f"line {line_no}: transaction type {txn_type!r} is not a payment (01) or a refund "
                              "(04, 31), and this platform sends no other", details={"line": line_no,
                                                                                      "field": "txn_type",
                                                                                      "value": txn_type})
    amount = _fen(text("txn_amt"), "txn_amt", line_no)
    fee = _signed(text("mer_fee"), "mer_fee", line_no)
    settle = _signed(text("settle_amt"), "settle_amt", line_no)
    assert amount is not None and fee is not None and settle is not None
    if settle != direction * amount + fee:
        raise BillTotalsMismatch(f"line {line_no}: the settlement {settle} is not the amount {direction * amount} "
                                 f"plus the fee {fee}", details={"line": line_no, "settle_amt": settle,
                                                                  "txn_amt": amount, "mer_fee": fee})
    split = _signed(text("split_amt"), "split_amt", line_no, blank_ok=True)
    net = _signed(text("net_amt"), "net_amt", line_no, blank_ok=True)
    if net is not None and net != settle - (split or 0):
        raise BillTotalsMismatch(f"line {line_no}: the net {net} is not the settlement {settle} less the split "
                                 f"{split or 0}", details={"line": line_no, "net_amt": net, "settle_amt": settle})
    order_id, orig_order_id = text("order_id"), text("orig_order_id")
    if not order_id or (kind == "refund" and not orig_order_id):
        raise BillFormatError(f"line {line_no}: the order number is missing", details={"line": line_no})
    refund = kind == "refund"
    return UnionpayBillRow(
        kind=kind, txn_type=txn_type, out_trade_no=orig_order_id if refund else order_id,
        out_refund_no=order_id if refund else "", query_id=text("query_id"),
        orig_query_id=text("orig_qry_id") if refund else "", amount_fen=amount, fee_fen=-fee, settle_fen=settle,
        event_time=event_time(text("trace_time"), clearing_day, line_no), mer_id=text("mer_id"),
        trace_no=text("trace_no"), card_no=text("card_no"), line_no=line_no,
    )
