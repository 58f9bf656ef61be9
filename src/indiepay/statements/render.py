"""Render an export :class:`~indiepay.statements.exports.Document` as CSV or XLSX bytes.

CSV is UTF-8 **with a BOM** and CRLF line ends: without the BOM, Excel on a Chinese Windows opens UTF-8 as
GBK and garbles every label. XLSX is written by :mod:`.xlsx`, amounts as real numbers (yuan formatted
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
from typing import IO

from indiepay.core.errors import InvalidRequest
from indiepay.core.money import fen_to_yuan
from indiepay.statements.exports import Cell, Document, Fen, Sheet, Text, Yuan
from indiepay.statements.transactions import HEADER, Row, Totals, local_time
from indiepay.statements.xlsx import Number, Style, Styled, WorkbookWriter, XCell

CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


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
    buffer = io.BytesIO()
    with WorkbookWriter(buffer, [sheet.name for sheet in document.sheets]) as workbook:
        for index, sheet in enumerate(document.sheets):
            with workbook.sheet(_widths(sheet)) as rows:
                if index == 0:
                    rows.row([Styled(safe_text(document.title), Style.BOLD)])
                    for label, value in document.meta:
                        rows.row([Styled(safe_text(label), Style.BOLD), safe_text(value)])
                    rows.blank()
                for block in sheet.blocks:
                    rows.row([Styled(safe_text(block.title), Style.BOLD)])
                    rows.row([Styled(safe_text(title), Style.HEADING) for title in block.header])
                    for values in block.rows:
                        rows.row([_xlsx_cell(cell) for cell in values])
                    rows.blank()
    return buffer.getvalue()


def _widths(sheet: Sheet) -> dict[int, float]:
    """Column widths: 24 for the labels' column, 16 for the others, wider for longer text (up to 60)."""
    widths: dict[int, float] = {1: 24}
    for block in sheet.blocks:
        for column in range(1, len(block.header) + 1):
            widths[column] = max(widths.get(column, 0), 16 if column > 1 else 24)
        for values in block.rows:
            for column, cell in enumerate(values, start=1):
                if isinstance(cell, Text):
                    widths[column] = max(widths.get(column, 0), min(len(cell.value) + 2, 60))
    return widths


def _xlsx_cell(cell: Cell) -> XCell:
    if cell is None:
        return None
    if isinstance(cell, Text):
        return safe_text(cell.value)
    if isinstance(cell, Yuan):
        return Number(Decimal(cell.fen).scaleb(-2), Style.YUAN)  # exact: two decimals
    if isinstance(cell, Fen):
        return Number(cell.fen, Style.INTEGER)
    return Number(cell.value, Style.INTEGER)


# -- the transactions export: streamed, one row per money movement --------------------------------------

XLSX_MAX_ROWS = 1_048_576 - 2  # a worksheet's rows, less the header and the totals
_AMOUNT_COLUMNS = (9, 10, 11, 12)  # amount, channel fee, platform fee, net


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
    """The transactions as one worksheet streamed into ``target`` row by row (memory stays flat), amounts as
    numbers formatted ``#,##0.00`` so that they can be summed.

    Raises:
        InvalidRequest (``too_many_rows``): more movements than a worksheet holds (CSV has no such limit).
    """
    with WorkbookWriter(target, ["Transactions"]) as workbook, workbook.sheet() as sheet:
        sheet.row([Styled(title, Style.BOLD) for title in HEADER])
        totals = Totals()
        for count, row in enumerate(rows, start=1):
            if count > XLSX_MAX_ROWS:
                raise InvalidRequest(f"more than {XLSX_MAX_ROWS} movements: ask for CSV or a shorter span",
                                     code="too_many_rows", details={"max_rows": XLSX_MAX_ROWS})
            totals.add(row)
            sheet.row(_with_amounts(_transaction_cells(row), Style.YUAN))
        sheet.row(_with_amounts(_totals_cells(totals), Style.YUAN_BOLD))


def _with_amounts(cells: list[str], style: Style) -> list[XCell]:
    """A transactions row for the workbook: its four amount columns (yuan text) as numbers."""
    out: list[XCell] = list(cells)
    for column in _AMOUNT_COLUMNS:
        out[column] = Number(Decimal(cells[column]), style)
    return out
