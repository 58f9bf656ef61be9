"""Write WeChat Pay bills in the real format — the inverse of the parsers.

The sandbox gateway publishes its trade and fund-flow bills with these (the bytes whose SHA1 it
announces), and tests use them for round trips. Output matches the real bill byte conventions: UTF-8
with BOM, CRLF, every detail and summary field prefixed with a backtick, fees with five decimals, the
summary header and row last; ids WeChat Pay writes as ``0`` when absent (特约商户号, refund ids on
payment rows) are written so. Values a row lacks (``None``) are written as zero amounts or empty text.
The writers are generators of lines, so a million-row bill is produced without being held in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime
from decimal import Decimal

from indiepay.core.money import fen_to_yuan
from indiepay.reconciliation.parsers.common import format_fee, format_local_time
from indiepay.reconciliation.parsers.wechat_fundflow import COLUMNS as FUND_COLUMNS
from indiepay.reconciliation.parsers.wechat_fundflow import INCOME, WechatFundFlowRow
from indiepay.reconciliation.parsers.wechat_fundflow import SUMMARY_COLUMNS as FUND_SUMMARY
from indiepay.reconciliation.parsers.wechat_trade import (
    LAYOUT_COLUMNS,
    SUMMARY_COLUMNS,
    TradeBillLayout,
    WechatTradeRow,
)

BOM = "\ufeff"

_AMOUNT_TOTALS = {"应结订单金额": "应结订单总金额", "退款金额": "退款总金额", "充值券退款金额": "充值券退款总金额",
                  "订单金额": "订单总金额", "申请退款金额": "申请退款总金额"}


def _amounts(row: WechatTradeRow) -> dict[str, int]:
    """The fen behind each amount column that a summary total adds up."""
    return {"应结订单金额": row.settlement_total_fen, "退款金额": row.refund_fen or 0,
            "充值券退款金额": row.recharge_coupon_refund_fen or 0, "订单金额": row.order_total_fen or 0,
            "申请退款金额": row.refund_requested_fen or 0}


class _LineWriter:
    """One CSV line at a time, as UTF-8 bytes with CRLF, through a reused buffer."""

    def __init__(self) -> None:
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\r\n")

    def line(self, fields: Iterable[str], *, ticks: bool = True, prefix: str = "") -> bytes:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow([f"`{value}" for value in fields] if ticks else list(fields))
        return (prefix + self._buffer.getvalue()).encode("utf-8")


def _optional_yuan(fen: int | None) -> str:
    return fen_to_yuan(fen or 0)


def _trade_fields(row: WechatTradeRow) -> dict[str, str]:
    def when(value: datetime | None) -> str:
        return format_local_time(value) if value is not None else ""

    return {
        "交易时间": format_local_time(row.trade_time), "公众账号ID": row.app_id, "商户号": row.mch_id,
        "特约商户号": row.sub_mch_id or "0", "设备号": row.device or "", "微信订单号": row.transaction_id,
        "商户订单号": row.out_trade_no, "用户标识": row.openid, "交易类型": row.trade_type,
        "交易状态": row.trade_state, "付款银行": row.bank, "货币种类": row.currency,
        "应结订单金额": fen_to_yuan(row.settlement_total_fen), "代金券金额": fen_to_yuan(row.coupon_fen),
        "退款申请时间": when(row.refund_requested_at), "退款成功时间": when(row.refund_succeeded_at),
        "微信退款单号": row.refund_id or "0", "商户退款单号": row.out_refund_no or "0",
        "退款金额": _optional_yuan(row.refund_fen), "充值券退款金额": _optional_yuan(row.recharge_coupon_refund_fen),
        "退款类型": row.refund_type or "", "退款状态": row.refund_status or "",
        "商品名称": row.product, "商户数据包": row.attach, "手续费": format_fee(row.fee), "费率": row.rate,
        "订单金额": _optional_yuan(row.order_total_fen), "申请退款金额": _optional_yuan(row.refund_requested_fen),
        "费率备注": row.rate_note or "",
    }


def iter_wechat_trade_bill(rows: Iterable[WechatTradeRow],
                           layout: TradeBillLayout = TradeBillLayout.ALL) -> Iterator[bytes]:
    """The trade bill's bytes, line by line: BOM and header, one line per row, summary header and row.

    The summary is computed from what was written, so it always agrees with the rows (a corrupted bill
    is made by editing the output, not here).

    Raises:
        ValueError: a fee with more than five decimals, or a naive datetime.
    """
    columns = LAYOUT_COLUMNS[layout]
    out = _LineWriter()
    yield out.line(columns, ticks=False, prefix=BOM)
    count, fees = 0, Decimal(0)
    sums = dict.fromkeys(_AMOUNT_TOTALS.values(), 0)
    for row in rows:
        values = _trade_fields(row)
        yield out.line(values[name] for name in columns)
        count += 1
        fees += row.fee
        for column, fen in _amounts(row).items():
            if column in columns:
                sums[_AMOUNT_TOTALS[column]] += fen
    yield out.line(SUMMARY_COLUMNS, ticks=False)
    printed = {"总交易单数": str(count), "手续费总金额": format_fee(fees),
               **{name: fen_to_yuan(value) for name, value in sums.items()}}
    yield out.line(printed[name] for name in SUMMARY_COLUMNS)


def render_wechat_trade_bill(rows: Iterable[WechatTradeRow],
                             layout: TradeBillLayout = TradeBillLayout.ALL) -> bytes:
    """The whole trade bill as bytes (see :func:`iter_wechat_trade_bill`)."""
    return b"".join(iter_wechat_trade_bill(rows, layout))


def iter_wechat_fundflow_bill(rows: Iterable[WechatFundFlowRow]) -> Iterator[bytes]:
    """The fund-flow bill's bytes, line by line, with its summary computed from the rows written."""
    out = _LineWriter()
    yield out.line(FUND_COLUMNS, ticks=False, prefix=BOM)
    counts = {True: 0, False: 0}
    sums = {True: 0, False: 0}
    for row in rows:
        income = row.direction == INCOME
        counts[income] += 1
        sums[income] += row.amount_fen
        yield out.line([
            format_local_time(row.booked_at), row.business_no, row.flow_no, row.business_name, row.business_type,
            row.direction, fen_to_yuan(row.amount_fen), fen_to_yuan(row.balance_fen), row.applicant, row.note,
            row.voucher_no,
        ])
    yield out.line(FUND_SUMMARY, ticks=False)
    yield out.line([str(counts[True] + counts[False]), str(counts[True]), fen_to_yuan(sums[True]),
                    str(counts[False]), fen_to_yuan(sums[False])])


def render_wechat_fundflow_bill(rows: Iterable[WechatFundFlowRow]) -> bytes:
    """The whole fund-flow bill as bytes (see :func:`iter_wechat_fundflow_bill`)."""
    return b"".join(iter_wechat_fundflow_bill(rows))
