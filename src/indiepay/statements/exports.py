"""What a statement or tax summary download contains, independent of the file format (pure).

One layout feeds both the CSV and the XLSX renderer (:mod:`indiepay.statements.render`), so the two files
always hold the same figures. Every amount is given twice, in explicitly labelled columns: yuan with two
decimals (for people) and integer fen (exact, for machines). Labels are bilingual so that an accountant
in China and the merchant's own software both read them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from indiepay.statements.schemas import StatementBody, TaxSummary


@dataclass(frozen=True)
class Text:
    value: str


@dataclass(frozen=True)
class Count:
    value: int


@dataclass(frozen=True)
class Yuan:
    """An amount in fen, shown in yuan with two decimals."""

    fen: int


@dataclass(frozen=True)
class Fen:
    fen: int


Cell = Text | Count | Yuan | Fen | None


@dataclass(frozen=True)
class Block:
    """A titled table: a header row, then rows."""

    title: str
    header: list[str]
    rows: list[list[Cell]]


@dataclass(frozen=True)
class Sheet:
    name: str  # at most 31 characters, no []:*?/\ (Excel's limits)
    blocks: list[Block]


@dataclass(frozen=True)
class Document:
    title: str
    filename: str  # without extension, ASCII only
    meta: list[tuple[str, str]]
    sheets: list[Sheet] = field(default_factory=list)


MODE_LABELS = {"platform": "平台统一收款 platform", "independent": "独立收款 independent"}
ITEM = "项目 Item"

# (field, Chinese, English) for every amount column of a statement line
LINE_AMOUNTS = [
    ("gross", "交易额", "Gross volume"),
    ("refunds", "退款", "Refunds"),
    ("channel_fee_charged", "渠道手续费", "Channel fees charged"),
    ("channel_fee_returned", "退还的渠道手续费", "Channel fees returned"),
    ("channel_fee", "渠道手续费净额", "Channel fees (net)"),
    ("platform_fee_charged", "平台服务费/技术服务费", "Platform service / technology fees charged"),
    ("platform_fee_returned", "退还的平台服务费/技术服务费", "Platform service / technology fees returned"),
    ("platform_fee", "平台服务费/技术服务费净额", "Platform service / technology fees (net)"),
    ("shared", "分账给接收方", "Shared to receivers"),
    ("shares_returned", "分账回退", "Shares returned"),
    ("net", "净额", "Net"),
]
SUMMARY_EXTRA = [
    ("other_fees", "单独收取的平台费用", "Other platform fees"),
    ("profit_shared", "分润", "Profit shared"),
    ("adjustments", "调账", "Adjustments"),
    ("settled", "已结算", "Settled"),
    ("paid_out", "已打款", "Paid out"),
    ("payouts_returned", "退回的打款", "Returned payouts"),
]


def money_header(chinese: str, english: str, currency: str) -> list[str]:
    """The two column titles of one amount: yuan and fen, said explicitly."""
    return [f"{chinese}（元）{english} ({currency}, yuan)", f"{chinese}（分）{english} ({currency}, fen)"]


def money(fen: int) -> list[Cell]:
    return [Yuan(fen), Fen(fen)]


def _meta(body: StatementBody | TaxSummary, status: str, generated: str, sha: str) -> list[tuple[str, str]]:
    return [("商户号 Merchant ID", body.merchant_id), ("商户名称 Merchant name", body.merchant_name),
            ("账期 Month", f"{body.month} (Asia/Shanghai)"), ("币种 Currency", body.currency),
            ("状态 Status", status), ("生成时间 Generated at (UTC)", generated),
            ("对账单 SHA-256 Statement body SHA-256", sha)]


def statement_document(statement: dict[str, Any], *, status: str, generated_at: str, sha256: str) -> Document:
    """The download of a stored statement body."""
    body = StatementBody.model_validate(statement)
    cur = body.currency
    summary = body.summary.model_dump()
    amount_rows: list[list[Cell]] = [[Text(f"{zh} {en}"), *money(summary[name])]
                                     for name, zh, en in LINE_AMOUNTS + SUMMARY_EXTRA]
    counts: list[list[Cell]] = [[Text("支付笔数 Payments"), Count(body.summary.payment_count)],
                                [Text("退款笔数 Refunds"), Count(body.summary.refund_count)]]
    header = ["渠道 Channel", "收款模式 Collection mode", "支付笔数 Payments", "退款笔数 Refunds"]
    for _, zh, en in LINE_AMOUNTS:
        header += money_header(zh, en, cur)
    rows: list[list[Cell]] = []
    for line in [*body.lines, None]:
        source = line if line is not None else body.summary
        values = source.model_dump()
        label = [Text(line.channel), Text(MODE_LABELS[line.mode])] if line is not None else [Text("合计 Total"), None]
        rows.append([*label, Count(source.payment_count), Count(source.refund_count),
                     *(cell for name, _, _ in LINE_AMOUNTS for cell in money(values[name]))])
    recon: list[list[Cell]] = [
        [Text("应付商户期初余额 Owed to merchant, opening"), *money(body.reconciliation.merchant_payable.opening)],
        [Text("本月变动 Change in the month"), *money(body.reconciliation.merchant_payable.change)],
        [Text("应付商户期末余额 Owed to merchant, closing"), *money(body.reconciliation.merchant_payable.closing)],
    ]
    period = f"{body.period_start} – {body.period_end} (UTC)"
    return Document(
        title="IndiePay 月度对账单 Monthly statement",
        filename=f"statement-{body.merchant_id}-{body.month}-{cur}",
        meta=[*_meta(body, status, generated_at, sha256), ("期间 Period", period)],
        sheets=[Sheet("汇总 Summary", [
                    Block("汇总 Summary", [ITEM, *money_header("金额", "Amount", cur)], amount_rows),
                    Block("笔数 Counts", [ITEM, "笔数 Count"], counts),
                    Block("应付商户余额 Owed to the merchant (merchant_payable)",
                          [ITEM, *money_header("金额", "Amount", cur)], recon)]),
                Sheet("明细 By channel and mode", [
                    Block("按渠道和收款模式 By channel and collection mode", header, rows)])])


def tax_document(summary: dict[str, Any], *, generated_at: str) -> Document:
    """The download of a tax summary (see :mod:`indiepay.statements.tax` for the rules)."""
    tax = TaxSummary.model_validate(summary)
    cur = tax.currency
    columns = [("gross", "交易额", "Gross volume"), ("refunds", "退款", "Refunds"),
               ("taxable_sales", "应税销售额", "Taxable sales"),
               ("fees_to_channels", "支付给渠道的手续费", "Fees paid to channels"),
               ("fees_to_platform", "支付给平台的费用", "Fees paid to the platform")]
    header = ["收款模式 Collection mode"]
    for _, zh, en in columns:
        header += money_header(zh, en, cur)
    rows: list[list[Cell]] = []
    for line in tax.by_mode:
        values = line.model_dump()
        rows.append([Text(MODE_LABELS[line.mode]), *(cell for name, _, _ in columns for cell in money(values[name]))])
    totals = {"gross": sum(line.gross for line in tax.by_mode), "refunds": sum(line.refunds for line in tax.by_mode),
              "taxable_sales": tax.taxable_sales, "fees_to_channels": tax.fees_to_channels,
              "fees_to_platform": tax.fees_to_platform - tax.other_platform_fees}
    rows.append([Text("合计 Total"), *(cell for name, _, _ in columns for cell in money(totals[name]))])
    vat = tax.platform_fee_vat
    fee_rows: list[list[Cell]] = [
        [Text("收款产生的平台费用 Platform fees on payments"), *money(tax.fees_to_platform - tax.other_platform_fees)],
        [Text("单独收取的平台费用 Other platform fees"), *money(tax.other_platform_fees)],
        [Text("平台费用合计（含税）Fees to the platform, VAT included"), *money(vat.total_incl_vat)],
        [Text(f"其中增值税 of which VAT ({tax.vat_rate})"), *money(vat.vat)],
        [Text("不含税金额 Amount excluding VAT"), *money(vat.excl_vat)],
    ]
    return Document(
        title="IndiePay 税务汇总 Tax summary",
        filename=f"tax-summary-{tax.merchant_id}-{tax.month}-{cur}",
        meta=[*_meta(tax, tax.status, generated_at, tax.statement_sha256), ("规则 Rule", tax.rule)],
        sheets=[Sheet("税务汇总 Tax summary", [
            Block("按收款模式 By collection mode", header, rows),
            Block("平台费用发票 Platform fees (VAT-inclusive, 6%)", [ITEM, *money_header("金额", "Amount", cur)],
                  fee_rows)])])
