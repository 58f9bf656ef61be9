"""Alipay merchant bill (``alipay.data.dataservice.bill.downloadurl.query``, ``bill_type=trade``).

The download is a zip of two **GBK** CSVs, entry names GBK too: ``<PID>0156_<YYYYMMDD>_业务明细.csv``
(detail) and ``…_业务明细(汇总).csv`` (summary). The detail file opens with ``#`` lines (title, ``#账号：[…]``,
the period, a ``#---业务明细列表---`` marker), then a header row (25 columns today), the rows — ids and
a few other fields end with a tab, refund rows (业务类型 退款) carry negative amounts — then ``#`` footer
lines: the ``…业务明细列表结束…`` marker, ``#交易合计：N笔，商家实收共X元，商家优惠共Y元``, ``#退款合计：…``
and ``#导出时间：[…]``. The summary file has one row per store and a ``合计`` row.

Checks, at the end of the detail stream: trade rows against ``#交易合计``, refund rows against
``#退款合计`` (count and each labelled amount: 商家实收, 商家优惠), and all rows against the summary's
``合计`` row (counts per kind; each amount as the signed sum over all rows — refunds count negatively);
the store rows must add up to ``合计``. ``实收净额`` is not checked: Alipay does not publish its formula.
Bytes are decoded as GB18030, the superset of GBK, so a rare four-byte character does not reject a bill.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import BinaryIO

from indiepay.reconciliation.errors import BillArchiveError, BillEmpty, BillFormatError
from indiepay.reconciliation.parsers import alipay_summary
from indiepay.reconciliation.parsers.common import (
    ZIP_DATA_ERRORS,
    ZIP_ERRORS,
    BillSource,
    CsvRows,
    TotalCheck,
    check_totals,
    fee_fen,
    fen_to_decimal,
    header_key,
    map_header,
    parse_count,
    parse_fen,
    parse_local_time,
    parse_yuan,
    text_lines,
)

ENCODING = "gb18030"
DETAIL_SUFFIX = "_业务明细.csv"
SUMMARY_SUFFIX = "_业务明细(汇总).csv"
DETAIL_COLUMNS = (
    "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称",
    "操作员", "终端号", "对方账户", "订单金额（元）", "商家实收（元）", "支付宝红包（元）",
    "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
    "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
)
"""The detail columns in Alipay's order (DESIGN.md §5.3)."""

TAB_TERMINATED = frozenset({
    "支付宝交易号", "商户订单号", "业务类型", "门店编号", "门店名称", "操作员", "终端号", "对方账户",
    "商家红包消费金额（元）", "退款批次号/请求号",
})
"""Columns whose values Alipay ends with a tab (so spreadsheets keep them as text)."""

ALIASES = {"集分宝抵扣(元)": "集分宝(元)", "退款批次号": "退款批次号/请求号", "支付宝优惠": "支付宝优惠(元)"}
TRADE, REFUND = "交易", "退款"
_REQUIRED = ("支付宝交易号", "商户订单号", "业务类型", "创建时间", "订单金额(元)", "商家实收(元)")
_KNOWN = frozenset(header_key(name) for name in DETAIL_COLUMNS)
_FOOTER = re.compile(r"#+\s*(交易|退款)合计[:：]\s*(\d+)\s*笔(.*)")
_FOOTER_PART = re.compile(r"([^，,共]+)共\s*(-?\d+(?:\.\d+)?)\s*元")
_ACCOUNT = re.compile(r"#\s*账号[:：]\s*\[([^\]]*)\]")
_RECEIPT_LABELS = frozenset({"商家实收", "商家实收退款"})
_DISCOUNT_LABELS = frozenset({"商家优惠", "商家优惠退款"})


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~4x, per row of a million
class AlipayBillRow:
    """One detail row; text fields without their trailing tab. Optional columns a file lacks are ``None``."""

    trade_no: str  # 支付宝交易号
    out_trade_no: str
    business_type: str  # 交易 (payment) or 退款 (refund)
    product: str
    created_at: datetime  # aware Asia/Shanghai
    finished_at: datetime | None
    order_amount_fen: int  # 订单金额, negative on refund rows
    receipt_fen: int  # 商家实收, negative on refund rows
    service_fee: Decimal | None = None  # 服务费 as printed
    store_id: str = ""
    store_name: str = ""
    operator: str = ""
    terminal_id: str = ""
    counterparty: str = ""  # 对方账户, masked buyer account
    voucher_name: str = ""
    refund_request_no: str = ""  # 退款批次号/请求号 (out_request_no of a partial refund)
    note: str = ""
    alipay_red_packet_fen: int | None = None
    jifenbao_fen: int | None = None
    alipay_discount_fen: int | None = None
    merchant_discount_fen: int | None = None
    voucher_fen: int | None = None
    merchant_red_packet_fen: int | None = None
    card_fen: int | None = None
    profit_share_fen: int | None = None
    extra: tuple[tuple[str, str], ...] = ()
    line_no: int = field(default=0, compare=False)

    @property
    def kind(self) -> str:
        """``refund`` for 退款 rows, ``payment`` for 交易 rows."""
        return "refund" if self.business_type == REFUND else "payment"

    @property
    def service_fee_fen(self) -> int:
        """服务费 in fen as printed (sign included), ROUND_HALF_UP; 0 when the column is absent."""
        return fee_fen(self.service_fee) if self.service_fee is not None else 0

    @property
    def event_time(self) -> datetime:
        """When the money moved: 完成时间 (the refund's time on refund rows), else 创建时间."""
        return self.finished_at or self.created_at


@dataclass(frozen=True, slots=True)
class AlipayFooter:
    """The ``#交易合计`` / ``#退款合计`` lines. Amounts under labels this parser does not know are kept in
    ``other`` and not checked."""

    trade_count: int
    trade_receipt_fen: int | None = None
    trade_merchant_discount_fen: int | None = None
    refund_count: int | None = None
    refund_receipt_fen: int | None = None
    refund_merchant_discount_fen: int | None = None
    other: tuple[tuple[str, str], ...] = ()


class _Totals:
    """Running totals of the detail rows, per kind, for the footer and the summary checks."""

    def __init__(self) -> None:
        self.count = {TRADE: 0, REFUND: 0}
        self.receipt = {TRADE: 0, REFUND: 0}
        self.discount = {TRADE: 0, REFUND: 0}
        self.sums = {name: 0 for name in alipay_summary.FEN_MEASURES}
        self.fee = Decimal(0)

    def add(self, row: AlipayBillRow) -> None:
        kind = row.business_type
        self.count[kind] += 1
        self.receipt[kind] += row.receipt_fen
        self.discount[kind] += row.merchant_discount_fen or 0
        for name, attribute in alipay_summary.FEN_MEASURES.items():
            self.sums[name] += getattr(row, attribute) or 0
        if row.service_fee is not None:
            self.fee += row.service_fee


class AlipayDetailReader:
    """Reads a detail CSV lazily: iterate once for the rows; afterwards ``footer`` is set and every check
    (footer, and ``summary`` when given) has passed. ``account`` is read from the ``#账号`` line.

    Raises (on construction or while iterating):
        BillEmpty: no header row. BillEncodingError: not GBK.
        BillFormatError / BillAmountError: malformed rows, an unknown 业务类型, a missing end marker or
            ``#交易合计`` line, data after the footer. BillTotalsMismatch: rows disagree with footer/summary.
    """

    def __init__(self, source: BillSource, *, summary: alipay_summary.AlipaySummary | None = None) -> None:
        self._csv = CsvRows(text_lines(source, ENCODING))
        self.summary = summary
        self.account: str | None = None
        self.footer: AlipayFooter | None = None
        self._started = False
        while True:
            fields, line = self._csv.next_nonblank()
            if fields is None:
                raise BillEmpty("the Alipay detail file has no header row")
            if not fields[0].lstrip().startswith("#"):
                break
            match = _ACCOUNT.match(",".join(fields).strip())
            if match:
                self.account = match.group(1).strip()
        positions = map_header(fields, ALIASES, line)
        missing = [name for name in _REQUIRED if name not in positions]
        if missing:
            raise BillFormatError(f"not an Alipay detail file: header lacks {', '.join(missing)}",
                                  details={"line": line, "missing": missing})
        self.columns = len(fields)
        self._at = {name: positions.get(name, -1) for name in _KNOWN}
        self._extra = [(name, index) for name, index in positions.items() if name not in _KNOWN]

    def __iter__(self) -> Iterator[AlipayBillRow]:
        if self._started:
            raise RuntimeError("a bill reader can be iterated only once")
        self._started = True
        return self._rows()

    def _build(self, fields: list[str], line: int) -> AlipayBillRow:
        at = self._at

        def text(name: str) -> str:
            return fields[at[name]].strip() if at[name] >= 0 else ""

        def fen(name: str) -> int | None:
            value = text(name)
            return parse_fen(value, name, line) if value else None

        business_type = text("业务类型")
        if business_type not in (TRADE, REFUND):
            raise BillFormatError(f"line {line}: unknown 业务类型 {business_type!r}",
                                  details={"line": line, "value": business_type})
        finished, fee = text("完成时间"), text("服务费(元)")
        return AlipayBillRow(
            trade_no=text("支付宝交易号"), out_trade_no=text("商户订单号"), business_type=business_type,
            product=text("商品名称"),
            created_at=parse_local_time(text("创建时间"), "创建时间", line),
            finished_at=parse_local_time(finished, "完成时间", line) if finished else None,
            order_amount_fen=parse_fen(text("订单金额(元)"), "订单金额(元)", line),
            receipt_fen=parse_fen(text("商家实收(元)"), "商家实收(元)", line),
            service_fee=parse_yuan(fee, "服务费(元)", line) if fee else None,
            store_id=text("门店编号"), store_name=text("门店名称"), operator=text("操作员"),
            terminal_id=text("终端号"), counterparty=text("对方账户"), voucher_name=text("券名称"),
            refund_request_no=text("退款批次号/请求号"), note=text("备注"),
            alipay_red_packet_fen=fen("支付宝红包(元)"), jifenbao_fen=fen("集分宝(元)"),
            alipay_discount_fen=fen("支付宝优惠(元)"), merchant_discount_fen=fen("商家优惠(元)"),
            voucher_fen=fen("券核销金额(元)"), merchant_red_packet_fen=fen("商家红包消费金额(元)"),
            card_fen=fen("卡消费金额(元)"), profit_share_fen=fen("分润(元)"),
            extra=tuple((name, fields[index].strip()) for name, index in self._extra),
            line_no=line,
        )

    def _rows(self) -> Iterator[AlipayBillRow]:
        totals = _Totals()
        while True:
            fields, line = self._csv.next_nonblank()
            if fields is None or fields[0].lstrip().startswith("#"):
                break
            if len(fields) != self.columns:
                raise BillFormatError(f"line {line}: {len(fields)} fields, the header has {self.columns}",
                                      details={"line": line, "fields": len(fields), "expected": self.columns})
            row = self._build(fields, line)
            totals.add(row)
            yield row
        self.footer = self._read_footer(fields, line)
        self._check(totals)

    def _read_footer(self, first: list[str] | None, line: int) -> AlipayFooter:
        ended = False
        found: dict[str, tuple[int, list[tuple[str, str]]]] = {}
        fields = first
        while fields is not None:
            text = ",".join(fields).strip()
            if not text.startswith("#"):
                raise BillFormatError(f"line {line}: data after the footer of the detail file", details={"line": line})
            ended = ended or "列表结束" in text
            match = _FOOTER.match(text)
            if match:
                count = parse_count(match.group(2), f"#{match.group(1)}合计", line)
                found[match.group(1)] = (count, _FOOTER_PART.findall(match.group(3)))
            fields, line = self._csv.next_nonblank()
        if not ended or TRADE not in found:
            raise BillFormatError("the Alipay detail file ends without its footer (truncated?)",
                                  details={"line": line})

        def labelled(kind: str, labels: frozenset[str]) -> int | None:
            parts = found.get(kind, (0, []))[1]
            hits = [value for label, value in parts if label.strip() in labels]
            return parse_fen(hits[0], f"#{kind}合计", line) if hits else None

        known = _RECEIPT_LABELS | _DISCOUNT_LABELS
        return AlipayFooter(
            trade_count=found[TRADE][0],
            trade_receipt_fen=labelled(TRADE, _RECEIPT_LABELS),
            trade_merchant_discount_fen=labelled(TRADE, _DISCOUNT_LABELS),
            refund_count=found[REFUND][0] if REFUND in found else None,
            refund_receipt_fen=labelled(REFUND, _RECEIPT_LABELS),
            refund_merchant_discount_fen=labelled(REFUND, _DISCOUNT_LABELS),
            other=tuple((f"{kind}:{label.strip()}", value) for kind, (_, parts) in found.items()
                        for label, value in parts if label.strip() not in known),
        )

    def _check(self, totals: _Totals) -> None:
        footer = self.footer
        assert footer is not None
        counts = [("#交易合计 笔数", footer.trade_count, totals.count[TRADE]),
                  ("#退款合计 笔数", footer.refund_count, totals.count[REFUND])]
        amounts = [("#交易合计 商家实收", footer.trade_receipt_fen, totals.receipt[TRADE]),
                   ("#交易合计 商家优惠", footer.trade_merchant_discount_fen, totals.discount[TRADE]),
                   ("#退款合计 商家实收退款", footer.refund_receipt_fen, totals.receipt[REFUND]),
                   ("#退款合计 商家优惠退款", footer.refund_merchant_discount_fen, totals.discount[REFUND])]
        if self.summary is not None:
            total = self.summary.total
            counts += [("合计 交易订单总笔数", total.trade_count, totals.count[TRADE]),
                       ("合计 退款订单总笔数", total.refund_count, totals.count[REFUND])]
            amounts += [(f"合计 {name}", getattr(total, attribute), totals.sums[name])
                        for name, attribute in alipay_summary.FEN_MEASURES.items()]
        checks = [TotalCheck(name, Decimal(value), Decimal(computed))
                  for name, value, computed in counts if value is not None]
        checks += [TotalCheck(name, fen_to_decimal(value), fen_to_decimal(computed))
                   for name, value, computed in amounts if value is not None]
        if self.summary is not None and self.summary.total.service_fee is not None:
            checks.append(TotalCheck("合计 服务费(元)", self.summary.total.service_fee, totals.fee))
        check_totals(checks, what="Alipay bill")


def _entry(archive: zipfile.ZipFile, suffixes: tuple[str, ...], what: str) -> zipfile.ZipInfo:
    matches = [info for info in archive.infolist() if info.filename.endswith(suffixes)]
    if len(matches) != 1:
        raise BillArchiveError(f"the Alipay bill zip has {len(matches)} {what} entries, expected 1",
                               details={"entries": [info.filename for info in archive.infolist()]})
    return matches[0]


class AlipayBillArchive:
    """The downloaded zip: the summary entry is read at once (it is small), the detail entry is streamed.

    Iterate once over the detail rows; every check runs at the end (see the module docstring).

    Raises:
        BillArchiveError: not a zip, truncated or corrupt (also mid-stream), or entries missing.
        Other BillError subclasses as :class:`AlipayDetailReader` and :func:`read_alipay_summary`.
    """

    def __init__(self, data: bytes | BinaryIO) -> None:
        stream = io.BytesIO(data) if isinstance(data, bytes | bytearray) else data
        try:
            self._zip = zipfile.ZipFile(stream, metadata_encoding="gbk")
            detail = _entry(self._zip, (DETAIL_SUFFIX,), "detail")
            summary = _entry(self._zip, (SUMMARY_SUFFIX, "_业务明细（汇总）.csv"), "summary")
            with self._zip.open(summary) as handle:
                summary_bytes = handle.read()
            detail_stream = self._zip.open(detail)
        except ZIP_ERRORS as exc:
            raise BillArchiveError(f"the Alipay bill zip is unreadable: {exc}") from exc
        self.summary = alipay_summary.read_alipay_summary(summary_bytes)
        self.detail_name, self.summary_name = detail.filename, summary.filename
        try:
            self.reader = AlipayDetailReader(detail_stream, summary=self.summary)
        except ZIP_DATA_ERRORS as exc:  # the header lines, decompressed as they are read
            raise BillArchiveError(f"the Alipay bill zip is corrupt: {exc}") from exc

    def __iter__(self) -> Iterator[AlipayBillRow]:
        try:
            yield from self.reader
        except ZIP_DATA_ERRORS as exc:  # the detail entry's data, decompressed as the rows are read
            raise BillArchiveError(f"the Alipay bill zip is corrupt: {exc}") from exc

    @property
    def footer(self) -> AlipayFooter | None:
        """The detail file's footer, once the rows have been read."""
        return self.reader.footer


def parse_alipay_bill_zip(data: bytes | BinaryIO) -> Iterator[AlipayBillRow]:
    """Yield the detail rows of an Alipay bill zip lazily; all checks run when the stream ends."""
    yield from AlipayBillArchive(data)


def read_alipay_bill_zip(
    data: bytes | BinaryIO,
) -> tuple[list[AlipayBillRow], AlipayFooter, alipay_summary.AlipaySummary]:
    """All rows, the checked footer and the summary at once — for small bills and tests."""
    archive = AlipayBillArchive(data)
    rows = list(archive)
    assert archive.footer is not None
    return rows, archive.footer, archive.summary
