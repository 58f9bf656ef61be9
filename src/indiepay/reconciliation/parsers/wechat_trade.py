"""WeChat Pay trade bill (交易账单, ``GET /v3/bill/tradebill``), layouts ALL, SUCCESS and REFUND.

The file is UTF-8 with a BOM and CRLF line ends; a header row of Chinese column names; detail rows whose
every field starts with a backtick (so spreadsheets keep 28-digit ids as text); then a summary header
(``总交易单数,应结订单总金额,…``) and one summary row. Amounts are yuan with two decimals, fees
(``手续费``) five. Columns are found **by name**: the three layouts differ (REFUND adds the refund
request/success times, SUCCESS has no refund columns) and older bills use older names (``子商户号``,
``总金额``), which map onto today's through :data:`ALIASES`.

Every row is one event: a payment (``交易状态`` SUCCESS, REVOKED, …) or, in the ALL and REFUND layouts, a
refund (``交易状态`` REFUND). The reader yields rows lazily and, at the end of the stream, checks them
against the file's own summary row; see :mod:`.common` for the amount and rounding rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from operator import itemgetter

from indiepay.reconciliation.errors import BillEmpty, BillFormatError
from indiepay.reconciliation.parsers.common import (
    BillSource,
    CsvRows,
    TotalCheck,
    cell,
    check_totals,
    fee_fen,
    fen_to_decimal,
    map_header,
    parse_count,
    parse_fen,
    parse_local_time,
    parse_yuan,
    text_lines,
)


class TradeBillLayout(StrEnum):
    """``bill_type`` of the trade bill request."""

    ALL = "ALL"
    SUCCESS = "SUCCESS"
    REFUND = "REFUND"


_HEAD = ("交易时间", "公众账号ID", "商户号", "特约商户号", "设备号", "微信订单号", "商户订单号", "用户标识",
         "交易类型", "交易状态", "付款银行", "货币种类", "应结订单金额", "代金券金额")
_REFUND_PART = ("微信退款单号", "商户退款单号", "退款金额", "充值券退款金额", "退款类型", "退款状态")
_TAIL = ("商品名称", "商户数据包", "手续费", "费率", "订单金额")

LAYOUT_COLUMNS: dict[TradeBillLayout, tuple[str, ...]] = {
    TradeBillLayout.ALL: (*_HEAD, *_REFUND_PART, *_TAIL, "申请退款金额", "费率备注"),
    TradeBillLayout.SUCCESS: (*_HEAD, *_TAIL, "费率备注"),
    TradeBillLayout.REFUND: (*_HEAD, "退款申请时间", "退款成功时间", *_REFUND_PART, *_TAIL, "申请退款金额", "费率备注"),
}
"""Today's columns per layout, in the order WeChat Pay writes them (the real ALL bill has these 27)."""

SUMMARY_COLUMNS = ("总交易单数", "应结订单总金额", "退款总金额", "充值券退款总金额", "手续费总金额", "订单总金额",
                   "申请退款总金额")

ALIASES = {
    "子商户号": "特约商户号", "总金额": "应结订单金额", "代金券或立减优惠金额": "代金券金额",
    "企业红包金额": "代金券金额", "代金券或立减优惠退款金额": "充值券退款金额", "企业红包退款金额": "充值券退款金额",
    "总交易额": "应结订单总金额", "总退款金额": "退款总金额", "总代金券或立减优惠退款金额": "充值券退款总金额",
    "总企业红包退款金额": "充值券退款总金额",
}
"""Older (API v2-era) column names → today's names."""

REQUIRED = ("交易时间", "微信订单号", "商户订单号", "交易状态", "应结订单金额", "手续费")
_ORDER = LAYOUT_COLUMNS[TradeBillLayout.REFUND]  # every known column, in the order _RowBuilder unpacks them
_KNOWN = frozenset(_ORDER)
_ABSENT = ("0", "")  # WeChat Pay writes `0 for "no sub-merchant" and "no refund" in id columns


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~4x, per row of a million
class WechatTradeRow:
    """One detail row. Columns the file's layout lacks are ``None``; unknown columns land in ``extra``."""

    trade_time: datetime  # 交易时间, aware Asia/Shanghai (the refund's time on ALL-layout refund rows)
    app_id: str
    mch_id: str
    sub_mch_id: str | None  # 特约商户号; None for a direct merchant (`0)
    device: str | None
    transaction_id: str  # 微信订单号
    out_trade_no: str
    openid: str  # 用户标识
    trade_type: str  # JSAPI, NATIVE, APP, MWEB, MICROPAY ...
    trade_state: str  # SUCCESS, REFUND, REVOKED ...
    bank: str
    currency: str
    settlement_total_fen: int  # 应结订单金额: order amount minus non-recharge coupons
    coupon_fen: int  # 代金券金额
    product: str
    attach: str
    fee: Decimal  # 手续费, exact yuan as printed (five decimals; negative when a refund returns it)
    rate: str  # 费率 as printed, e.g. "0.60%"
    refund_requested_at: datetime | None = None  # REFUND layout only
    refund_succeeded_at: datetime | None = None  # REFUND layout only
    refund_id: str | None = None  # 微信退款单号
    out_refund_no: str | None = None
    refund_fen: int | None = None  # 退款金额 (settlement refund)
    recharge_coupon_refund_fen: int | None = None  # 充值券退款金额
    refund_type: str | None = None  # ORIGINAL, BALANCE ...
    refund_status: str | None = None  # SUCCESS, PROCESSING ...
    order_total_fen: int | None = None  # 订单金额
    refund_requested_fen: int | None = None  # 申请退款金额
    rate_note: str | None = None  # 费率备注
    extra: tuple[tuple[str, str], ...] = ()
    line_no: int = field(default=0, compare=False)  # physical line in the file; provenance only

    @property
    def fee_fen(self) -> int:
        """The fee in fen, ROUND_HALF_UP from the exact value."""
        return fee_fen(self.fee)

    @property
    def kind(self) -> str:
        """``refund`` for refund rows, ``payment`` otherwise."""
        return "refund" if self.trade_state == "REFUND" or self.refund_requested_at is not None else "payment"

    @property
    def amount_fen(self) -> int:
        """The amount a local payment or refund is matched on: what the merchant asked for
        (订单金额 / 申请退款金额), falling back to the settlement figures on layouts without them."""
        if self.kind == "refund":
            requested = self.refund_requested_fen
            return requested if requested is not None else (self.refund_fen or 0)
        return self.order_total_fen if self.order_total_fen is not None else self.settlement_total_fen

    @property
    def event_time(self) -> datetime:
        """When the row's money moved: the refund's success (or request) time when the layout has it."""
        if self.kind == "refund":
            return self.refund_succeeded_at or self.refund_requested_at or self.trade_time
        return self.trade_time

    @property
    def state(self) -> str:
        """The row's outcome: the refund status for refunds, the trade state for payments."""
        if self.kind == "refund" and self.refund_status:
            return self.refund_status
        return self.trade_state


@dataclass(frozen=True, slots=True)
class TradeBillSummary:
    """The summary row as printed (totals a vintage does not print are ``None``)."""

    count: int
    settlement_total_fen: int | None
    refund_total_fen: int | None
    recharge_coupon_refund_total_fen: int | None
    fee_total: Decimal | None
    order_total_fen: int | None
    refund_requested_total_fen: int | None


def _absent(value: str) -> str | None:
    return None if value in _ABSENT else value


class _RowBuilder:
    """Turns the fields of one row into a :class:`WechatTradeRow`, using the positions of the header.

    Hot path (a million rows a bill): the backticks go in one comprehension, all known columns come out
    in one ``itemgetter`` call (a column the layout lacks reads an empty sentinel appended to the row).
    """

    def __init__(self, positions: dict[str, int]) -> None:
        sentinel = len(positions)
        self._get = itemgetter(*(positions.get(name, sentinel) for name in _ORDER))
        self._has = {name: name in positions for name in _ORDER}
        self._extra = [(name, index) for name, index in positions.items() if name not in _KNOWN]

    def build(self, raw: list[str], line: int) -> WechatTradeRow:
        fields = [value[1:] if value[:1] == "`" else value for value in raw]
        fields.append("")
        (trade_time, app_id, mch_id, sub_mch_id, device, transaction_id, out_trade_no, openid, trade_type,
         trade_state, bank, currency, settlement, coupon, requested_at, succeeded_at, refund_id, out_refund_no,
         refund, recharge, refund_type, refund_status, product, attach, fee, rate, order, requested,
         rate_note) = self._get(fields)
        has = self._has
        return WechatTradeRow(
            trade_time=parse_local_time(trade_time, "交易时间", line),
            app_id=app_id, mch_id=mch_id, sub_mch_id=_absent(sub_mch_id), device=_absent(device),
            transaction_id=transaction_id, out_trade_no=out_trade_no, openid=openid, trade_type=trade_type,
            trade_state=trade_state, bank=bank, currency=currency,
            settlement_total_fen=parse_fen(settlement, "应结订单金额", line),
            coupon_fen=parse_fen(coupon, "代金券金额", line) if has["代金券金额"] else 0,
            product=product, attach=attach, fee=parse_yuan(fee, "手续费", line), rate=rate,
            refund_requested_at=(parse_local_time(requested_at, "退款申请时间", line)
                                 if _absent(requested_at) else None),
            refund_succeeded_at=(parse_local_time(succeeded_at, "退款成功时间", line)
                                 if _absent(succeeded_at) else None),
            refund_id=_absent(refund_id), out_refund_no=_absent(out_refund_no),
            refund_fen=parse_fen(refund, "退款金额", line) if has["退款金额"] else None,
            recharge_coupon_refund_fen=(parse_fen(recharge, "充值券退款金额", line)
                                        if has["充值券退款金额"] else None),
            refund_type=refund_type or None, refund_status=refund_status or None,
            order_total_fen=parse_fen(order, "订单金额", line) if has["订单金额"] else None,
            refund_requested_fen=parse_fen(requested, "申请退款金额", line) if has["申请退款金额"] else None,
            rate_note=rate_note or None,
            extra=tuple((name, fields[index]) for name, index in self._extra) if self._extra else (),
            line_no=line,
        )


class WechatTradeBillReader:
    """Reads one trade bill lazily: iterate once for the rows; afterwards ``summary`` holds the checked
    summary. Only running totals are kept, so a million-row bill never sits in memory.

    Raises (on construction or while iterating):
        BillEmpty: no header row. BillEncodingError: not UTF-8.
        BillFormatError / BillAmountError: a row or the summary is malformed, or the summary is missing.
        BillTotalsMismatch: after the last row, when the rows disagree with the summary row.
    """

    def __init__(self, source: BillSource) -> None:
        self._csv = CsvRows(text_lines(source, "utf-8-sig"))
        self.summary: TradeBillSummary | None = None
        self._started = False
        header, line = self._csv.next_nonblank()
        if header is None:
            raise BillEmpty("the WeChat Pay trade bill is empty")
        positions = map_header(header, ALIASES, line)
        missing = [name for name in REQUIRED if name not in positions]
        if missing:
            raise BillFormatError(f"not a WeChat Pay trade bill: header lacks {', '.join(missing)}",
                                  details={"line": line, "missing": missing})
        if "退款申请时间" in positions:
            self.layout = TradeBillLayout.REFUND
        elif "微信退款单号" in positions:
            self.layout = TradeBillLayout.ALL
        else:
            self.layout = TradeBillLayout.SUCCESS
        self.columns = len(header)
        self.positions, self.header_line = positions, line
        self._builder = _RowBuilder(positions)

    def __iter__(self) -> Iterator[WechatTradeRow]:
        if self._started:
            raise RuntimeError("a bill reader can be iterated only once")
        self._started = True
        return self._rows()

    def _rows(self) -> Iterator[WechatTradeRow]:
        count = settlement = refund = recharge = order = requested = 0
        fees = Decimal(0)
        while True:
            fields, line, at_summary = self._csv.next_detail(columns=self.columns, summary_first="总交易单数",
                                                              what="trade bill")
            if at_summary:
                break
            row = self._builder.build(fields, line)
            count += 1
            settlement += row.settlement_total_fen
            refund += row.refund_fen or 0
            recharge += row.recharge_coupon_refund_fen or 0
            order += row.order_total_fen or 0
            requested += row.refund_requested_fen or 0
            fees += row.fee
            yield row
        summary = read_summary(self._csv, fields, line)
        check_summary(summary, TradeBillTotals(count, settlement, refund, recharge, fees, order, requested))
        self.summary = summary


@dataclass(frozen=True, slots=True)
class TradeBillTotals:
    """What the detail rows add up to (fen; fees exact), to compare with the printed summary row."""

    count: int
    settlement_fen: int
    refund_fen: int
    recharge_coupon_refund_fen: int
    fee: Decimal
    order_fen: int
    refund_requested_fen: int


def check_summary(summary: TradeBillSummary, totals: TradeBillTotals) -> None:
    """Compare the printed summary with the rows' totals (both readers of a trade bill call this).

    Raises:
        BillTotalsMismatch: listing every printed total the rows do not add up to.
    """
    computed = {"总交易单数": Decimal(totals.count), "应结订单总金额": fen_to_decimal(totals.settlement_fen),
                "退款总金额": fen_to_decimal(totals.refund_fen),
                "充值券退款总金额": fen_to_decimal(totals.recharge_coupon_refund_fen),
                "手续费总金额": totals.fee, "订单总金额": fen_to_decimal(totals.order_fen),
                "申请退款总金额": fen_to_decimal(totals.refund_requested_fen)}
    printed = {"总交易单数": Decimal(summary.count), "手续费总金额": summary.fee_total,
               **{name: None if value is None else fen_to_decimal(value) for name, value in (
                   ("应结订单总金额", summary.settlement_total_fen), ("退款总金额", summary.refund_total_fen),
                   ("充值券退款总金额", summary.recharge_coupon_refund_total_fen),
                   ("订单总金额", summary.order_total_fen),
                   ("申请退款总金额", summary.refund_requested_total_fen))}}
    check_totals((TotalCheck(name, value, computed[name]) for name, value in printed.items()
                  if value is not None), what="WeChat Pay trade bill")


def read_summary(rows: CsvRows, header: list[str], header_line: int) -> TradeBillSummary:
    """The summary row under ``header`` (the line after the detail rows); nothing may follow it.

    Raises:
        BillFormatError / BillAmountError: a missing, malformed or trailing-data summary.
    """
    positions = map_header(header, ALIASES, header_line)
    values, line = rows.summary_values(header, header_line, "WeChat Pay trade bill")

    def amount(name: str) -> int | None:
        index = positions.get(name, -1)
        return parse_fen(cell(values[index]), name, line) if index >= 0 else None

    fee_index = positions.get("手续费总金额", -1)
    return TradeBillSummary(
        count=parse_count(cell(values[positions["总交易单数"]]), "总交易单数", line),
        settlement_total_fen=amount("应结订单总金额"),
        refund_total_fen=amount("退款总金额"),
        recharge_coupon_refund_total_fen=amount("充值券退款总金额"),
        fee_total=parse_yuan(cell(values[fee_index]), "手续费总金额", line) if fee_index >= 0 else None,
        order_total_fen=amount("订单总金额"),
        refund_requested_total_fen=amount("申请退款总金额"),
    )


def parse_wechat_trade_bill(source: BillSource) -> Iterator[WechatTradeRow]:
    """Yield the rows of a trade bill lazily; the summary check runs when the stream ends.

    Raises:
        BillError subclasses, as :class:`WechatTradeBillReader`.
    """
    yield from WechatTradeBillReader(source)


def read_wechat_trade_bill(source: BillSource) -> tuple[list[WechatTradeRow], TradeBillSummary]:
    """All rows and the checked summary at once — for small bills and tests."""
    reader = WechatTradeBillReader(source)
    rows = list(reader)
    assert reader.summary is not None
    return rows, reader.summary
