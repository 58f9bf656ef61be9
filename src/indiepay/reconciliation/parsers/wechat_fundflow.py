"""WeChat Pay fund-flow bill (资金账单, ``GET /v3/bill/fundflowbill``), one per fund account.

Where the trade bill lists orders, the fund-flow bill lists money moving through one account (BASIC,
OPERATION or FEES): each row a booking with its direction (收入 / 支出), a positive amount and the balance
after it. Same conventions as the trade bill — UTF-8 with BOM, CRLF, backtick-prefixed fields — and a
summary (``资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额``) that the rows are checked against at
the end of the stream. Column names carry ``(元)``; full-width parentheses are accepted too.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from indiepay.reconciliation.errors import BillEmpty, BillFormatError
from indiepay.reconciliation.parsers.common import (
    BillSource,
    CsvRows,
    TotalCheck,
    cell,
    check_totals,
    fen_to_decimal,
    map_header,
    parse_count,
    parse_fen,
    parse_local_time,
    text_lines,
)

COLUMNS = ("记账时间", "微信支付业务单号", "资金流水单号", "业务名称", "业务类型", "收支类型", "收支金额(元)",
           "账户结余(元)", "资金变更提交申请人", "备注", "业务凭证号")
"""The columns in the order WeChat Pay writes them."""

SUMMARY_COLUMNS = ("资金流水总笔数", "收入笔数", "收入金额", "支出笔数", "支出金额")
REQUIRED = ("记账时间", "资金流水单号", "收支类型", "收支金额(元)")
INCOME = "收入"
EXPENSE = "支出"
_KNOWN = frozenset(COLUMNS)


@dataclass(slots=True)  # not frozen: a frozen dataclass's __init__ costs ~4x, per row of a million
class WechatFundFlowRow:
    """One booking on the fund account."""

    booked_at: datetime  # 记账时间, aware Asia/Shanghai
    business_no: str  # 微信支付业务单号 (transaction or refund id the booking belongs to)
    flow_no: str  # 资金流水单号, unique per booking
    business_name: str  # 业务名称, e.g. 交易, 退款
    business_type: str  # 业务类型, e.g. 交易, 退款, 扣除交易手续费
    direction: str  # 收入 (in) or 支出 (out)
    amount_fen: int  # 收支金额, as printed (positive)
    balance_fen: int  # 账户结余 after this booking
    applicant: str  # 资金变更提交申请人
    note: str  # 备注
    voucher_no: str  # 业务凭证号
    extra: tuple[tuple[str, str], ...] = ()
    line_no: int = field(default=0, compare=False)

    @property
    def signed_amount_fen(self) -> int:
        """Positive for money in, negative for money out."""
        return self.amount_fen if self.direction == INCOME else -self.amount_fen


@dataclass(frozen=True, slots=True)
class FundFlowSummary:
    """The summary row as printed."""

    count: int
    income_count: int
    income_total_fen: int
    expense_count: int
    expense_total_fen: int


class WechatFundFlowBillReader:
    """Reads one fund-flow bill lazily: iterate once for the rows; afterwards ``summary`` is set and checked.

    Raises (on construction or while iterating):
        BillEmpty, BillEncodingError, BillFormatError, BillAmountError, BillTotalsMismatch — as the trade
        bill reader; also BillFormatError for a direction other than 收入 / 支出.
    """

    def __init__(self, source: BillSource) -> None:
        self._csv = CsvRows(text_lines(source, "utf-8-sig"))
        self.summary: FundFlowSummary | None = None
        self._started = False
        header, line = self._csv.next_nonblank()
        if header is None:
            raise BillEmpty("the WeChat Pay fund-flow bill is empty")
        positions = map_header(header, {}, line)
        missing = [name for name in REQUIRED if name not in positions]
        if missing:
            raise BillFormatError(f"not a WeChat Pay fund-flow bill: header lacks {', '.join(missing)}",
                                  details={"line": line, "missing": missing})
        self.columns = len(header)
        self._at = {name: positions.get(name, -1) for name in _KNOWN}
        self._extra = [(name, index) for name, index in positions.items() if name not in _KNOWN]

    def __iter__(self) -> Iterator[WechatFundFlowRow]:
        if self._started:
            raise RuntimeError("a bill reader can be iterated only once")
        self._started = True
        return self._rows()

    def _build(self, fields: list[str], line: int) -> WechatFundFlowRow:
        at = self._at

        def text(name: str) -> str:
            return cell(fields[at[name]]) if at[name] >= 0 else ""

        direction = text("收支类型")
        if direction not in (INCOME, EXPENSE):
            raise BillFormatError(f"line {line}: 收支类型 is neither {INCOME} nor {EXPENSE}: {direction!r}",
                                  details={"line": line, "value": direction})
        balance = at["账户结余(元)"]
        return WechatFundFlowRow(
            booked_at=parse_local_time(text("记账时间"), "记账时间", line),
            business_no=text("微信支付业务单号"),
            flow_no=text("资金流水单号"),
            business_name=text("业务名称"),
            business_type=text("业务类型"),
            direction=direction,
            amount_fen=parse_fen(text("收支金额(元)"), "收支金额(元)", line),
            balance_fen=parse_fen(cell(fields[balance]), "账户结余(元)", line) if balance >= 0 else 0,
            applicant=text("资金变更提交申请人"),
            note=text("备注"),
            voucher_no=text("业务凭证号"),
            extra=tuple((name, cell(fields[index])) for name, index in self._extra),
            line_no=line,
        )

    def _rows(self) -> Iterator[WechatFundFlowRow]:
        count = income_count = expense_count = income = expense = 0
        while True:
            fields, line, at_summary = self._csv.next_detail(columns=self.columns, summary_first="资金流水总笔数",
                                                              what="fund-flow bill")
            if at_summary:
                break
            row = self._build(fields, line)
            count += 1
            if row.direction == INCOME:
                income_count += 1
                income += row.amount_fen
            else:
                expense_count += 1
                expense += row.amount_fen
            yield row
        summary = self._read_summary(fields, line)
        check_totals([
            TotalCheck("资金流水总笔数", Decimal(summary.count), Decimal(count)),
            TotalCheck("收入笔数", Decimal(summary.income_count), Decimal(income_count)),
            TotalCheck("收入金额", fen_to_decimal(summary.income_total_fen), fen_to_decimal(income)),
            TotalCheck("支出笔数", Decimal(summary.expense_count), Decimal(expense_count)),
            TotalCheck("支出金额", fen_to_decimal(summary.expense_total_fen), fen_to_decimal(expense)),
        ], what="WeChat Pay fund-flow bill")
        self.summary = summary

    def _read_summary(self, header: list[str], header_line: int) -> FundFlowSummary:
        positions = map_header(header, {}, header_line)
        missing = [name for name in SUMMARY_COLUMNS if name not in positions]
        if missing:
            raise BillFormatError(f"fund-flow summary lacks {', '.join(missing)}",
                                  details={"line": header_line, "missing": missing})
        values, line = self._csv.summary_values(header, header_line, "WeChat Pay fund-flow bill")

        def value(name: str) -> str:
            return cell(values[positions[name]])

        return FundFlowSummary(
            count=parse_count(value("资金流水总笔数"), "资金流水总笔数", line),
            income_count=parse_count(value("收入笔数"), "收入笔数", line),
            income_total_fen=parse_fen(value("收入金额"), "收入金额", line),
            expense_count=parse_count(value("支出笔数"), "支出笔数", line),
            expense_total_fen=parse_fen(value("支出金额"), "支出金额", line),
        )


def parse_wechat_fundflow_bill(source: BillSource) -> Iterator[WechatFundFlowRow]:
    """Yield the rows of a fund-flow bill lazily; the summary check runs when the stream ends."""
    yield from WechatFundFlowBillReader(source)


def read_wechat_fundflow_bill(source: BillSource) -> tuple[list[WechatFundFlowRow], FundFlowSummary]:
    """All rows and the checked summary at once — for small bills and tests."""
    reader = WechatFundFlowBillReader(source)
    rows = list(reader)
    assert reader.summary is not None
    return rows, reader.summary
