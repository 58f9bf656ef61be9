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
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from indiepay.core.errors import InvalidRequest
from indiepay.core.money import fen_to_yuan
from indiepay.statements.exports import Cell, Count, Document, Fen, Text, Yuan
from indiepay.statements.transactions import HEADER, Row, Totals, local_time

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


# -- the transactions export: streamed, one row per money movement --------------------------------------

XLSX_MAX_ROWS = 1_048_576 - 2  # a worksheet's rows, less the header and the totals


def _transaction_cells(row: Row) -> list[str]:
    return [local_time(row.at), row.kind, row.id, safe_text(row.out_trade_no), safe_text(row.out_refund_no),
            row.channel, row.method, row.collection_mode, safe_text(row.channel_no), fen_to_yuan(row.amount),
            fen_to_yuan(row.channel_fee), fen_to_yuan(row.platform_fee), fen_to_yuan(row.net), row.fee_source,
            safe_text(row.description)]


def _totals_cells(totals: Totals) -> list[str]:
    return ["合计 Total", f"{_counted(totals.payments, 'payment')}, {_counted(totals.refunds, 'refund')}", "", "",
            "", "", "", "", "",
            fen_to_yuan(totals.amount), fen_to_yuan(totals.channel_fee), fen_to_yuan(totals.platform_fee),
            fen_to_yuan(totals.net), "", ""]


def _counted(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def transactions_csv(rows: Iterable[Row], *, flush_every: int = 2_000) -> Iterator[bytes]:
    """The transactions as CSV (UTF-8 with a BOM, CRLF), produced as it is read: the header, one line a
    movement, then the totals — in chunks of ``flush_every`` lines."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    yield out.getvalue().encode("utf-8-sig")
    out.seek(0)
    out.truncate()
    totals = Totals()
    for count, row in enumerate(rows, start=1):
        totals.add(row)
        writer.writerow(_transaction_cells(row))
        if count % flush_every == 0:
            yield out.getvalue().encode("utf-8")
            out.seek(0)
            out.truncate()
    writer.writerow(_totals_cells(totals))
    yield out.getvalue().encode("utf-8")


def transactions_xlsx(rows: Iterable[Row], target: IO[bytes]) -> None:
    """The transactions as one worksheet written into ``target`` row by row (openpyxl's write-only mode:
    memory stays flat), amounts as numbers formatted ``#,##0.00`` so that they can be summed.

    Raises:
        InvalidRequest (``too_many_rows``): more movements than a worksheet holds (CSV has no such limit).
    """
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet("Transactions")
    bold = [WriteOnlyCell(sheet, value=title) for title in HEADER]
    for cell in bold:
        cell.font = _BOLD
    sheet.append(bold)
    totals = Totals()
    for count, row in enumerate(rows, start=1):
        if count > XLSX_MAX_ROWS:
            raise InvalidRequest(f"more than {XLSX_MAX_ROWS} movements: ask for CSV or a shorter span",
                                 code="too_many_rows", details={"max_rows": XLSX_MAX_ROWS})
        totals.add(row)
        cells: list[Any] = _transaction_cells(row)
        for column in (9, 10, 11, 12):
            cells[column] = _yuan_cell(sheet, cells[column])
        sheet.append(cells)
    last: list[Any] = _totals_cells(totals)
    for column in (9, 10, 11, 12):
        last[column] = _yuan_cell(sheet, last[column])
        last[column].font = _BOLD
    sheet.append(last)
    workbook.save(target)


def _yuan_cell(sheet: Any, yuan: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=Decimal(yuan))
    cell.number_format = "#,##0.00"
    return cell
