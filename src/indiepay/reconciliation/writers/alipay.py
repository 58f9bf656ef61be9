"""Write an Alipay bill zip in the real format — the inverse of :mod:`..parsers.alipay`.

For the sandbox gateway's ``bill.downloadurl.query`` and for round-trip tests. The zip holds two GBK
CSVs with GBK entry names (no UTF-8 flag, as Alipay's own zips): ``<PID>0156_<YYYYMMDD>_业务明细.csv`` and
``…_业务明细(汇总).csv``. The detail file has the ``#`` header lines, the 25-column header, the rows with
a tab after the columns Alipay ends with one, and the ``#`` footer with 交易合计 / 退款合计 / 导出时间;
the summary has one row per store (in order of first appearance) and ``合计``.

Rows are written as given: a refund row must already carry negative amounts. Optional amounts a row
lacks are written ``0.00``. ``实收净额`` is written as 商家实收 + 服务费 + 分润 (signed as printed) — an
assumption of the sandbox, since Alipay does not publish the formula; the parser does not check it.
Characters GBK cannot represent are written as ``?``. The detail entry is streamed into the zip, so
only the compressed archive and one running total per store are held in memory.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO

from indiepay.core.clock import BUSINESS_TZ
from indiepay.core.money import fen_to_yuan
from indiepay.reconciliation.parsers.alipay import DETAIL_COLUMNS, REFUND, TAB_TERMINATED, AlipayBillRow
from indiepay.reconciliation.parsers.alipay_summary import COLUMNS as SUMMARY_COLUMNS
from indiepay.reconciliation.parsers.common import fee_fen, format_fee, format_local_time

ENCODING = "gbk"
DETAIL_START = "#-----------------------------------------业务明细列表----------------------------------------"
DETAIL_END = "#-----------------------------------------业务明细列表结束------------------------------------"
SUMMARY_START = "#-----------------------------------------业务汇总列表----------------------------------------"
SUMMARY_END = "#----------------------------------------业务汇总列表结束-------------------------------------"


class _GbkZipInfo(zipfile.ZipInfo):
    """A zip entry whose name is stored in GBK without the UTF-8 flag, as Alipay writes them."""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # overrides zipfile's ascii-or-utf-8 choice
        return self.filename.encode(ENCODING), self.flag_bits


@dataclass
class _Tally:
    """Running totals of one store (or of the whole bill)."""

    trades: int = 0
    refunds: int = 0
    order: int = 0
    receipt: int = 0
    alipay_discount: int = 0
    merchant_discount: int = 0
    card: int = 0
    fee: Decimal = Decimal(0)
    profit_share: int = 0
    trade_discount: int = 0  # 商家优惠 of trade rows only, for the footer
    refund_discount: int = 0
    trade_receipt: int = 0
    refund_receipt: int = 0

    def add(self, row: AlipayBillRow) -> None:
        refund = row.business_type == REFUND
        self.refunds += refund
        self.trades += not refund
        self.order += row.order_amount_fen
        self.receipt += row.receipt_fen
        self.alipay_discount += row.alipay_discount_fen or 0
        self.merchant_discount += row.merchant_discount_fen or 0
        self.card += row.card_fen or 0
        self.fee += row.service_fee or 0
        self.profit_share += row.profit_share_fen or 0
        if refund:
            self.refund_discount += row.merchant_discount_fen or 0
            self.refund_receipt += row.receipt_fen
        else:
            self.trade_discount += row.merchant_discount_fen or 0
            self.trade_receipt += row.receipt_fen

    def summary_fields(self, store_id: str, store_name: str) -> list[str]:
        net = self.receipt + fee_fen(self.fee) + self.profit_share
        return [store_id, store_name, str(self.trades), str(self.refunds), fen_to_yuan(self.order),
                fen_to_yuan(self.receipt), fen_to_yuan(self.alipay_discount), fen_to_yuan(self.merchant_discount),
                fen_to_yuan(self.card), format_fee(self.fee, 2), fen_to_yuan(self.profit_share), fen_to_yuan(net)]


def _stamp(value: datetime) -> str:
    return value.astimezone(BUSINESS_TZ).strftime("%Y年%m月%d日 %H:%M:%S")


def _yuan(fen: int | None) -> str:
    return fen_to_yuan(fen or 0)


def _detail_fields(row: AlipayBillRow) -> list[str]:
    values = {
        "支付宝交易号": row.trade_no, "商户订单号": row.out_trade_no, "业务类型": row.business_type,
        "商品名称": row.product, "创建时间": format_local_time(row.created_at),
        "完成时间": format_local_time(row.finished_at) if row.finished_at else "",
        "门店编号": row.store_id, "门店名称": row.store_name, "操作员": row.operator, "终端号": row.terminal_id,
        "对方账户": row.counterparty, "订单金额（元）": fen_to_yuan(row.order_amount_fen),
        "商家实收（元）": fen_to_yuan(row.receipt_fen), "支付宝红包（元）": _yuan(row.alipay_red_packet_fen),
        "集分宝（元）": _yuan(row.jifenbao_fen), "支付宝优惠（元）": _yuan(row.alipay_discount_fen),
        "商家优惠（元）": _yuan(row.merchant_discount_fen), "券核销金额（元）": _yuan(row.voucher_fen),
        "券名称": row.voucher_name, "商家红包消费金额（元）": _yuan(row.merchant_red_packet_fen),
        "卡消费金额（元）": _yuan(row.card_fen), "退款批次号/请求号": row.refund_request_no,
        "服务费（元）": format_fee(row.service_fee or Decimal(0), 2), "分润（元）": _yuan(row.profit_share_fen),
        "备注": row.note,
    }
    return [values[name] + ("\t" if name in TAB_TERMINATED else "") for name in DETAIL_COLUMNS]


class _GbkLines:
    """CSV lines into a binary stream, GBK-encoded, through a reused buffer."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink
        self._buffer = io.StringIO()
        self._csv = csv.writer(self._buffer, lineterminator="\n")

    def text(self, line: str) -> None:
        self._sink.write((line + "\n").encode(ENCODING, errors="replace"))

    def row(self, fields: list[str]) -> None:
        self._buffer.seek(0)
        self._buffer.truncate()
        self._csv.writerow(fields)
        self._sink.write(self._buffer.getvalue().encode(ENCODING, errors="replace"))


def render_alipay_bill_zip(rows: Iterable[AlipayBillRow], *, pid: str, bill_date: date,
                           exported_at: datetime | None = None) -> bytes:
    """The bill zip for one account (``pid``, the 2088… partner id) and one business day.

    Args:
        rows: detail rows in bill order (consumed once; may be a generator).
        pid: the partner id; the account printed in the files is ``pid + "0156"``, as in Alipay's names.
        bill_date: the Asia/Shanghai business day the bill covers.
        exported_at: the ``#导出时间`` stamp; defaults to 00:00 Beijing time the next day, so output is
            a pure function of the arguments.

    Raises:
        ValueError: a service fee with more than two decimals, or a naive datetime.
    """
    account = f"{pid}0156"
    start = datetime.combine(bill_date, time(), BUSINESS_TZ)
    end = start + timedelta(days=1)
    exported = exported_at or end
    header = [f"#账号：[{account}]", f"#起始日期：[{_stamp(start)}]   终止日期：[{_stamp(end)}]"]
    stem = f"{account}_{bill_date:%Y%m%d}_业务明细"
    stamp = exported.astimezone(BUSINESS_TZ).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        detail = _GbkZipInfo(f"{stem}.csv", date_time=stamp)
        detail.compress_type = zipfile.ZIP_DEFLATED
        total, stores = _Tally(), dict[tuple[str, str], _Tally]()
        with archive.open(detail, "w") as sink:
            out = _GbkLines(sink)
            for line in ("#支付宝业务明细查询", *header, DETAIL_START):
                out.text(line)
            out.row(list(DETAIL_COLUMNS))
            for row in rows:
                out.row(_detail_fields(row))
                total.add(row)
                stores.setdefault((row.store_id, row.store_name), _Tally()).add(row)
            out.text(DETAIL_END)
            out.text(f"#交易合计：{total.trades}笔，商家实收共{fen_to_yuan(total.trade_receipt)}元，"
                     f"商家优惠共{fen_to_yuan(total.trade_discount)}元")
            out.text(f"#退款合计：{total.refunds}笔，商家实收退款共{fen_to_yuan(total.refund_receipt)}元，"
                     f"商家优惠退款共{fen_to_yuan(total.refund_discount)}元")
            out.text(f"#导出时间：[{_stamp(exported)}]")
        summary = _GbkZipInfo(f"{stem}(汇总).csv", date_time=stamp)
        summary.compress_type = zipfile.ZIP_DEFLATED
        with archive.open(summary, "w") as sink:
            out = _GbkLines(sink)
            for line in ("#支付宝业务汇总查询", *header, SUMMARY_START):
                out.text(line)
            out.row(list(SUMMARY_COLUMNS))
            for (store_id, store_name), tally in stores.items():
                out.row(tally.summary_fields(store_id + "\t", store_name + "\t"))
            out.row(total.summary_fields("合计", ""))
            out.text(SUMMARY_END)
            out.text(f"#导出时间：[{_stamp(exported)}]")
    return buffer.getvalue()
