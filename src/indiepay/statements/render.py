"""Render an export :class:`~indiepay.statements.exports.Document` as CSV or XLSX bytes.

CSV is UTF-8 **with a BOM** and CRLF line ends: without the BOM, Excel on a Chinese Windows opens UTF-8 as
GBK and garbles every label. XLSX is written with openpyxl, amounts as real numbers (yuan formatted
``#,##0.00``, fen as integers) so that an accountant can sum them.

Text that a spreadsheet would take for a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a CR
— a merchant can name itself ``=HYPERLINK(…)``) is prefixed with ``'`` in both formats, and XLSX text cells
are forced to the string type, so nothing in a download is ever evaluated.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from indiepay.core.money import fen_to_yuan
from indiepay.statements.exports import Cell, Count, Document, Fen, Text, Yuan

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_BOLD = Font(bold=True)


def document_file(document: Document, fmt: str) -> tuple[bytes, str, str]:
    """A document as a download: (content, media type, file name) for ``fmt`` ``csv`` or ``xlsx``."""
    if fmt == "csv":
        return to_csv(document), CSV_MEDIA_TYPE, f"{document.filename}.csv"
    return to_xlsx(document), XLSX_MEDIA_TYPE, f"{document.filename}.xlsx"


def safe_text(value: str) -> str:
    """``value`` made inert for spreadsheets (see the module docstring)."""
    return f"'{value}" if value.startswith(_FORMULA_STARTS) else value


def _csv_cell(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, Text):
        return safe_text(cell.value)
    if isinstance(cell, Yuan):
        return fen_to_yuan(cell.fen)
    if isinstance(cell, Fen):
        return str(cell.fen)
    return str(cell.value)


def to_csv(document: Document) -> bytes:
    """The document as one CSV: title, metadata, then each block (title row, header row, rows)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_text(document.title)])
    for label, value in document.meta:
        writer.writerow([safe_text(label), safe_text(value)])
    for sheet in document.sheets:
        for block in sheet.blocks:
            writer.writerow([])
            writer.writerow([safe_text(block.title)])
            writer.writerow([safe_text(title) for title in block.header])
            for row in block.rows:
                writer.writerow([_csv_cell(cell) for cell in row])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(document: Document) -> bytes:
    """The document as a workbook: one worksheet per sheet, the title and metadata on the first."""
    workbook = Workbook()
    for index, sheet in enumerate(document.sheets):
        worksheet = workbook.active if index == 0 else workbook.create_sheet()
        worksheet.title = sheet.name
        row = 1
        if index == 0:
            _text(worksheet, row, 1, document.title, bold=True)
            for label, value in document.meta:
                row += 1
                _text(worksheet, row, 1, label, bold=True)
                _text(worksheet, row, 2, value)
            row += 2
        widths: dict[int, int] = {1: 24}
        for block in sheet.blocks:
            _text(worksheet, row, 1, block.title, bold=True)
            row += 1
            for column, title in enumerate(block.header, start=1):
                _text(worksheet, row, column, title, bold=True, wrap=True)
                widths[column] = max(widths.get(column, 0), 16 if column > 1 else 24)
            for values in block.rows:
                row += 1
                for column, cell in enumerate(values, start=1):
                    _write(worksheet, row, column, cell)
                    if isinstance(cell, Text):
                        widths[column] = max(widths.get(column, 0), min(len(cell.value) + 2, 60))
            row += 2
        for column, width in widths.items():
            worksheet.column_dimensions[get_column_letter(column)].width = width
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _text(worksheet: Any, row: int, column: int, value: str, *, bold: bool = False, wrap: bool = False) -> None:
    cell = worksheet.cell(row=row, column=column, value=safe_text(value))
    cell.data_type = "s"
    if bold:
        cell.font = _BOLD
    if wrap:
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _write(worksheet: Any, row: int, column: int, cell: Cell) -> None:
    if cell is None:
        return
    if isinstance(cell, Text):
        _text(worksheet, row, column, cell.value)
        return
    value: Decimal | int
    if isinstance(cell, Yuan):
        value, number_format = Decimal(cell.fen) / Decimal(100), "#,##0.00"  # exact: two decimals
    elif isinstance(cell, Fen):
        value, number_format = cell.fen, "0"
    else:
        assert isinstance(cell, Count)
        value, number_format = cell.value, "0"
    target = worksheet.cell(row=row, column=column, value=value)
    target.number_format = number_format
