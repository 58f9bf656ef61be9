"""The workbook writer (:mod:`indiepay.statements.xlsx`) read back by openpyxl, an independent reader:
every part is well-formed XML, the manifest comes first, text stays text (never a number or a formula),
numbers are exact, styles and widths are what was asked, and any text — control characters, CRs, text
shaped like OOXML's ``_xHHHH_`` escape — reads back as itself once the escape is decoded as Excel decodes it
(openpyxl leaves inline strings' escapes as they are)."""

from __future__ import annotations

import io
import re
import zipfile
from decimal import Decimal
from xml.etree import ElementTree

import pytest
from hypothesis import given
from hypothesis import strategies as st
from openpyxl import load_workbook

from indiepay.statements.xlsx import Number, Style, Styled, WorkbookWriter, column_letter, shown


def as_excel_reads(value: object) -> object:
    """A cell's text as Excel shows it: each ``_xHHHH_`` decoded, left to right (ECMA-376 §22.4.2.4)."""
    if not isinstance(value, str):
        return value
    return re.sub("_x([0-9A-Fa-f]{4})_", lambda found: chr(int(found.group(1), 16)), value)


def written(sheets: dict[str, list[list[object]]], widths: dict[int, float] | None = None) -> bytes:
    buffer = io.BytesIO()
    with WorkbookWriter(buffer, list(sheets)) as workbook:
        for rows in sheets.values():
            with workbook.sheet(widths) as sheet:
                for cells in rows:
                    if cells:
                        sheet.row(cells)  # type: ignore[arg-type]
                    else:
                        sheet.blank()
    return buffer.getvalue()


def test_a_workbook_reads_back_cell_for_cell() -> None:
    content = written({"汇总 Summary": [[Styled("Title", Style.BOLD)], [], ["label", "=HYPERLINK(1)", "00123"],
                                        [None, Number(Decimal("-1234.56"), Style.YUAN), Number(42, Style.INTEGER),
                                         Number(Decimal("0.10"), Style.YUAN_BOLD), Styled("Wrapped", Style.HEADING)]],
                       "Second": [["only"]]}, widths={1: 24, 3: 16.5})
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.namelist()[0] == "[Content_Types].xml"
    for name in archive.namelist():
        ElementTree.fromstring(archive.read(name))  # every part is well-formed
    book = load_workbook(io.BytesIO(content))
    assert book.sheetnames == ["汇总 Summary", "Second"]
    first = book["汇总 Summary"]
    assert first["A1"].value == "Title" and first["A1"].font.b
    assert first["A2"].value is None
    assert [first["A3"].value, first["B3"].value, first["C3"].value] == ["label", "=HYPERLINK(1)", "00123"]
    assert first["B3"].data_type == "s" and first["C3"].data_type == "s"  # text, not a formula or a number
    assert first["A4"].value is None
    assert first["B4"].value == Decimal("-1234.56") or first["B4"].value == -1234.56
    assert first["B4"].number_format == "#,##0.00" and not first["B4"].font.b
    assert first["C4"].value == 42 and first["C4"].number_format == "0"
    assert first["D4"].number_format == "#,##0.00" and first["D4"].font.b
    assert first["E4"].font.b and first["E4"].alignment.wrap_text and first["E4"].alignment.vertical == "top"
    assert first.column_dimensions["A"].width == 24 and first.column_dimensions["C"].width == 16.5
    assert book["Second"]["A1"].value == "only"


def test_numbers_are_written_from_their_exact_decimal_text() -> None:
    archive = zipfile.ZipFile(io.BytesIO(written({"S": [[Number(Decimal("12345678901.23")),
                                                         Number(10**12), Number(Decimal("1E+2"))]]})))
    sheet = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<v>12345678901.23</v>" in sheet and "<v>1000000000000</v>" in sheet and "<v>100</v>" in sheet


@given(st.text(max_size=40))
def test_any_text_is_written_and_read_back_as_shown(text: str) -> None:
    book = load_workbook(io.BytesIO(written({"S": [[text, Styled(text, Style.BOLD)]]})))
    expected = shown(text) or None
    assert [as_excel_reads(book["S"]["A1"].value), as_excel_reads(book["S"]["B1"].value)] == [expected, expected]


def test_control_characters_are_escaped_as_excel_does_and_only_lone_surrogates_are_lost() -> None:
    text = "a\x00b\x07c\td\ne\rf\x1b\ud800\uffff"
    sheet = zipfile.ZipFile(io.BytesIO(written({"S": [[text]]}))).read("xl/worksheets/sheet1.xml").decode()
    assert "a_x0000_b_x0007_c\td\ne_x000D_f_x001B_\ufffd_xFFFF_" in sheet
    assert as_excel_reads(load_workbook(io.BytesIO(written({"S": [[text]]})))["S"]["A1"].value) == \
        "a\x00b\x07c\td\ne\rf\x1b\ufffd\uffff"


def test_column_letters() -> None:
    assert [column_letter(n) for n in (1, 26, 27, 52, 53, 702, 703, 16384)] == \
        ["A", "Z", "AA", "AZ", "BA", "ZZ", "AAA", "XFD"]


def test_sheet_names_excel_refuses_are_refused_before_anything_is_written() -> None:
    for names in (["a" * 32], ["x/y"], ["dup", "dup"], [], [""]):
        with pytest.raises(ValueError):
            WorkbookWriter(io.BytesIO(), names)
    buffer = io.BytesIO()
    with pytest.raises(ValueError, match="never written"), WorkbookWriter(buffer, ["A", "B"]) as workbook, \
            workbook.sheet() as sheet:
        sheet.row(["only A"])


def test_text_that_looks_like_an_escape_or_holds_a_cr_reads_back_as_itself() -> None:
    texts = ["_x0041_", "_x0041_x0042_", "a\r\nb", "\r", " padded ", "<&>\"'", "_xZZZZ_", "_x004"]
    book = load_workbook(io.BytesIO(written({"S": [texts]})))
    assert [as_excel_reads(cell.value) for cell in book["S"][1]] == texts
    sheet = zipfile.ZipFile(io.BytesIO(written({"S": [texts]}))).read("xl/worksheets/sheet1.xml").decode()
    assert ">_x005F_x0041_<" in sheet  # what Excel itself writes for it: otherwise it shows "A"
    assert ">_x005F_x0041_x005F_x0042_<" in sheet  # each opener escaped, the shared underscore too
