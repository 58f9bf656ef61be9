"""The summary entry of an Alipay bill zip (``…_业务明细(汇总).csv``): one row per store plus ``合计``.

Small (one row per store), so it is read whole. Its ``合计`` row is what the detail rows are checked
against (see :mod:`.alipay`); here the store rows are checked against ``合计`` themselves.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

from indiepay.reconciliation.errors import BillEmpty, BillFormatError
from indiepay.reconciliation.parsers.common import (
    BillSource,
    CsvRows,
    TotalCheck,
    check_totals,
    fen_to_decimal,
    header_key,
    map_header,
    parse_count,
    parse_fen,
    parse_yuan,
    text_lines,
)

ENCODING = "gb18030"
COLUMNS = (
    "门店编号", "门店名称", "交易订单总笔数", "退款订单总笔数", "订单金额（元）", "商家实收（元）",
    "支付宝优惠（元）", "商家优惠（元）", "卡消费金额（元）", "服务费（元）", "分润（元）", "实收净额（元）",
)
"""The summary columns in Alipay's order."""

FEN_MEASURES = {
    "订单金额(元)": "order_amount_fen", "商家实收(元)": "receipt_fen", "支付宝优惠(元)": "alipay_discount_fen",
    "商家优惠(元)": "merchant_discount_fen", "卡消费金额(元)": "card_fen", "分润(元)": "profit_share_fen",
}
"""Summary amounts that are signed sums of the same-named detail column (attribute names match both)."""

TOTAL_LABEL = "合计"
_ACCOUNT = re.compile(r"#\s*账号[:：]\s*\[([^\]]*)\]")


@dataclass(frozen=True, slots=True)
class AlipaySummaryRow:
    """One store's line, or the ``合计`` line (``store_id`` 合计)."""

    store_id: str
    store_name: str
    trade_count: int
    refund_count: int
    order_amount_fen: int
    receipt_fen: int
    alipay_discount_fen: int
    merchant_discount_fen: int
    card_fen: int
    service_fee: Decimal
    profit_share_fen: int
    net_fen: int  # 实收净额


@dataclass(frozen=True, slots=True)
class AlipaySummary:
    """The parsed summary file."""

    account: str | None
    stores: tuple[AlipaySummaryRow, ...]
    total: AlipaySummaryRow


def _row(fields: list[str], at: dict[str, int], line: int) -> AlipaySummaryRow:
    def text(name: str) -> str:
        return fields[at[name]].strip()

    def fen(name: str) -> int:
        return parse_fen(text(name), name, line)

    return AlipaySummaryRow(
        store_id=text("门店编号"), store_name=text("门店名称"),
        trade_count=parse_count(text("交易订单总笔数"), "交易订单总笔数", line),
        refund_count=parse_count(text("退款订单总笔数"), "退款订单总笔数", line),
        order_amount_fen=fen("订单金额(元)"), receipt_fen=fen("商家实收(元)"),
        alipay_discount_fen=fen("支付宝优惠(元)"), merchant_discount_fen=fen("商家优惠(元)"),
        card_fen=fen("卡消费金额(元)"), service_fee=parse_yuan(text("服务费(元)"), "服务费(元)", line),
        profit_share_fen=fen("分润(元)"), net_fen=fen("实收净额(元)"),
    )


def _check_stores(stores: list[AlipaySummaryRow], total: AlipaySummaryRow) -> None:
    if not stores:
        return
    checks = [TotalCheck(f"合计 {name}", Decimal(getattr(total, attr)), Decimal(sum(getattr(r, attr) for r in stores)))
              for name, attr in (("交易订单总笔数", "trade_count"), ("退款订单总笔数", "refund_count"))]
    checks += [TotalCheck(f"合计 {name}", fen_to_decimal(getattr(total, attr)),
                          fen_to_decimal(sum(getattr(r, attr) for r in stores)))
               for name, attr in (*FEN_MEASURES.items(), ("实收净额(元)", "net_fen"))]
    checks.append(TotalCheck("合计 服务费(元)", total.service_fee, sum((r.service_fee for r in stores), Decimal(0))))
    check_totals(checks, what="Alipay summary file (stores against 合计)")


def read_alipay_summary(source: BillSource) -> AlipaySummary:
    """Parse the summary file and check that its store rows add up to its ``合计`` row.

    Raises:
        BillEmpty: no header row. BillEncodingError: not GBK.
        BillFormatError / BillAmountError: a missing column or ``合计`` row, a malformed value.
        BillTotalsMismatch: the store rows do not add up to ``合计``.
    """
    rows = CsvRows(text_lines(source, ENCODING))
    account: str | None = None
    while True:
        fields, line = rows.next_nonblank()
        if fields is None:
            raise BillEmpty("the Alipay summary file has no header row")
        if not fields[0].lstrip().startswith("#"):
            break
        match = _ACCOUNT.match(",".join(fields).strip())
        if match:
            account = match.group(1).strip()
    at = map_header(fields, {}, line)
    missing = [name for name in map(header_key, COLUMNS) if name not in at]
    if missing:
        raise BillFormatError(f"not an Alipay summary file: header lacks {', '.join(missing)}",
                              details={"line": line, "missing": missing})
    width = len(fields)
    stores: list[AlipaySummaryRow] = []
    total: AlipaySummaryRow | None = None
    while True:
        fields, line = rows.next_nonblank()
        # a "#" line is a comment unless it has the header's width: a store id may start with "#"
        if fields is None or (fields[0].lstrip().startswith("#") and len(fields) != width):
            break
        if len(fields) != width:
            raise BillFormatError(f"line {line}: {len(fields)} fields, the header has {width}",
                                  details={"line": line, "fields": len(fields), "expected": width})
        if total is not None:
            raise BillFormatError(f"line {line}: a row after the 合计 row", details={"line": line})
        row = _row(fields, at, line)
        if row.store_id == TOTAL_LABEL:
            total = row
        else:
            stores.append(row)
    while fields is not None:
        if not fields[0].lstrip().startswith("#"):
            raise BillFormatError(f"line {line}: data after the summary footer", details={"line": line})
        fields, line = rows.next_nonblank()
    if total is None:
        raise BillFormatError("the Alipay summary file has no 合计 row (truncated?)", details={"line": line})
    _check_stores(stores, total)
    return AlipaySummary(account=account, stores=tuple(stores), total=total)
