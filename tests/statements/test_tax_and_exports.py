"""The tax summary (6 % VAT split, rounded half up once on the month's total) and the CSV / XLSX files:
BOM, explicit yuan and fen columns, the same figures as the JSON, nothing a spreadsheet would evaluate."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook

from indiepay.core.clock import FixedClock
from indiepay.db.engine import Database
from indiepay.ledger import postings as p
from indiepay.statements import exports, render, service
from indiepay.statements.tax import tax_summary, vat_included
from tests.statements.conftest import add_merchant, post
from tests.statements.test_service import MID, build_november


@pytest.mark.parametrize(("total", "vat"), [(0, 0), (8, 0), (9, 1), (53, 3), (100, 6), (1_060, 60), (531, 30),
                                            (-9, -1), (10_600_000_000_000, 600_000_000_000)])
def test_vat_inside_a_vat_inclusive_amount(total: int, vat: int) -> None:
    # 8 × 6/106 = 0.453 → 0; 9 × 6/106 = 0.509 → 1 (the closest to half a fen the 6/106 split can get)
    assert vat_included(total) == vat


def test_tax_summary_of_november(db: Database) -> None:
    build_november(db)
    issued = service.issue(db, FixedClock(MID), merchant_id="mch_stmt", month="2026-11")
    tax = tax_summary(issued.body, status=issued.status, statement_sha256=issued.body_sha256)
    modes = {line["mode"]: line for line in tax["by_mode"]}
    assert modes["platform"] == {"mode": "platform", "gross": 10_000, "refunds": 2_500, "taxable_sales": 7_500,
                                 "fees_to_channels": 45, "fees_to_platform": 30}
    assert modes["independent"]["taxable_sales"] == 1_000 and modes["independent"]["fees_to_platform"] == 1
    assert tax["taxable_sales"] == 8_500 and tax["fees_to_channels"] == 51
    assert tax["fees_to_platform"] == 30 + 1 + 500 and tax["other_platform_fees"] == 500
    assert tax["platform_fee_vat"] == {"total_incl_vat": 531, "vat": 30, "excl_vat": 501}  # 531 × 6/106 = 30.06
    assert tax["statement_sha256"] == issued.body_sha256 and "6 / 106" in tax["rule"]


def statement_of(db: Database, name: str = "Tea Shop Ltd.") -> service.IssuedStatement:
    add_merchant(db, "mch_x", name=name)
    post(db, "payment_succeeded:pay_1", p.payment_succeeded(mode="platform", channel="wechatpay",
                                                            merchant_id="mch_x", amount=12_345, channel_fee=74,
                                                            platform_fee=49), MID)
    return service.issue(db, FixedClock(MID), merchant_id="mch_x", month="2026-11")


def csv_rows(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM for Excel
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"))))


def test_statement_csv(db: Database) -> None:
    issued = statement_of(db, name="茶铺 Tea")
    document = exports.statement_document(issued.body, status=issued.status, generated_at="2026-11-20T04:00:00Z",
                                          sha256=issued.body_sha256)
    data = render.to_csv(document)
    assert b"\r\n" in data
    rows = csv_rows(data)
    assert rows[0] == ["IndiePay 月度对账单 Monthly statement"]
    assert ["商户名称 Merchant name", "茶铺 Tea"] in rows
    header = next(r for r in rows if r and r[0] == "渠道 Channel")
    assert "交易额（元）Gross volume (CNY, yuan)" in header and "交易额（分）Gross volume (CNY, fen)" in header
    line = rows[rows.index(header) + 1]
    assert line[:4] == ["wechatpay", "平台统一收款 platform", "1", "0"]
    values = dict(zip(header, line, strict=True))
    assert values["交易额（元）Gross volume (CNY, yuan)"] == "123.45"
    assert values["交易额（分）Gross volume (CNY, fen)"] == "12345"
    assert values["净额（分）Net (CNY, fen)"] == str(12_345 - 74 - 49)
    total = rows[rows.index(header) + 2]
    assert total[0] == "合计 Total"
    summary = {r[0]: r[1:] for r in rows if len(r) == 3}
    assert summary["渠道手续费净额 Channel fees (net)"] == ["0.74", "74"]


def test_statement_xlsx_holds_the_same_numbers(db: Database) -> None:
    issued = statement_of(db)
    document = exports.statement_document(issued.body, status=issued.status, generated_at="x",
                                          sha256=issued.body_sha256)
    workbook = load_workbook(io.BytesIO(render.to_xlsx(document)))
    assert workbook.sheetnames == ["汇总 Summary", "明细 By channel and mode"]
    sheet = workbook["明细 By channel and mode"]
    header = [cell.value for cell in sheet[2]]
    line = [cell.value for cell in sheet[3]]
    values = dict(zip(header, line, strict=True))
    assert float(values["交易额（元）Gross volume (CNY, yuan)"]) == 123.45
    assert values["交易额（分）Gross volume (CNY, fen)"] == 12_345
    yuan_cell = sheet.cell(row=3, column=header.index("交易额（元）Gross volume (CNY, yuan)") + 1)
    assert yuan_cell.number_format == "#,##0.00" and yuan_cell.data_type == "n"


def test_tax_summary_files(db: Database) -> None:
    issued = statement_of(db)
    tax = tax_summary(issued.body, status=issued.status, statement_sha256=issued.body_sha256)
    document = exports.tax_document(tax, generated_at="2026-11-20T04:00:00Z")
    rows = csv_rows(render.to_csv(document))
    vat_row = next(r for r in rows if r and r[0].startswith("其中增值税"))
    assert vat_row[1:] == ["0.03", "3"]  # 49 × 6/106 = 2.77 → 3
    assert next(r for r in rows if r and r[0].startswith("不含税金额"))[1:] == ["0.46", "46"]
    workbook = load_workbook(io.BytesIO(render.to_xlsx(document)))
    assert workbook.sheetnames == ["税务汇总 Tax summary"]


def test_nothing_in_a_download_is_a_formula(db: Database) -> None:
    evil = '=HYPERLINK("http://evil.example","click")'
    issued = statement_of(db, name=evil)
    document = exports.statement_document(issued.body, status=issued.status, generated_at="x",
                                          sha256=issued.body_sha256)
    assert ["商户名称 Merchant name", "'" + evil] in csv_rows(render.to_csv(document))
    sheet = load_workbook(io.BytesIO(render.to_xlsx(document)))["汇总 Summary"]
    cell = next(row[1] for row in sheet.iter_rows() if row[0].value == "商户名称 Merchant name")
    assert cell.value == "'" + evil and cell.data_type == "s"
