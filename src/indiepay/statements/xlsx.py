"""Workbooks (.xlsx) written as they are produced: the few SpreadsheetML parts a workbook needs, streamed
into the zip a row at a time.

Why not a library: openpyxl spent 95 % of the transactions export's time serialising cells one XML
element at a time (46 s for 240,000 movements), and refused any text holding a character XML 1.0 cannot
carry — a merchant's name or a payment's description with a control character in it (the API stores them
as sent) made the download a server error. What an export needs is small: text, exact numbers, a bold
and a wrapped style, two number formats, column widths. Text is written as inline strings, always of the
string type (so a cell is never taken for a formula or a number), with the characters XML cannot hold in
OOXML's own escape (ECMA-376 §22.4.2.4), so Excel shows exactly the text that was stored; a number is
written from its exact decimal text, never through a float.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import IO
from xml.sax.saxutils import escape, quoteattr

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_HEAD = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
_UNENCODABLE = re.compile("[\ud800-\udfff]")
"""Lone surrogates: no UTF-8 file can hold them (text decoded from JSON may)."""
_OOXML_ESCAPED = re.compile("[\x00-\x08\x0b-\x1f\ufffe\uffff]|_(?=x[0-9A-Fa-f]{4}_)")
"""What a cell's text carries as OOXML's ``_xHHHH_`` escape: the characters XML 1.0 cannot hold (C0 controls
but tab and LF; CR too, which an XML parser would turn into LF) and an underscore that opens text shaped
like an escape (``_x0041_`` is stored ``_x005F_x0041_``, else Excel shows "A") — as Excel itself writes
them, so that Excel reads back exactly what was written."""
_FLUSH_ROWS = 1_000
MAX_SHEET_NAME = 31


class Style(IntEnum):
    """A cell's look: the index of its format in the workbook's styles part (see :data:`_STYLES`)."""

    PLAIN = 0
    BOLD = 1
    HEADING = 2  # bold, wrapped, top-aligned: a column title
    YUAN = 3  # #,##0.00
    YUAN_BOLD = 4
    INTEGER = 5  # 0


_STYLES = f"""{_HEAD}<styleSheet xmlns="{_MAIN}"><numFmts count="1"><numFmt numFmtId="164" formatCode="#,##0.00"/>\
</numFmts><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/>\
<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill><fill>\
<patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/><bottom/>\
<diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/>\
</cellStyleXfs><cellXfs count="6"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>\
<xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1" applyAlignment="1">\
<alignment vertical="top" wrapText="1"/></xf>\
<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>\
<xf numFmtId="164" fontId="1" fillId="0" borderId="0" xfId="0" applyNumberFormat="1" applyFont="1"/>\
<xf numFmtId="1" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>\
<cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""


@dataclass(frozen=True)
class Number:
    """A numeric cell from its exact value (an ``int`` or a ``Decimal``: amounts never pass through a float)."""

    value: int | Decimal
    style: Style = Style.PLAIN


@dataclass(frozen=True)
class Styled:
    """A text cell with a style other than plain."""

    text: str
    style: Style


XCell = str | Number | Styled | None
"""A cell: plain text, a number, styled text, or nothing (the column is left empty)."""


def shown(text: str) -> str:
    """``text`` as a UTF-8 file can hold it: a lone surrogate replaced by U+FFFD (nothing else changes)."""
    return _UNENCODABLE.sub("\ufffd", text)


def column_letter(index: int) -> str:
    """The column's letters for a 1-based index (1 → A, 27 → AA)."""
    letters = ""
    while index:
        index, remainder = divmod(index - 1, 26)
        letters = chr(65 + remainder) + letters
    return letters


def _text_cell(ref: str, text: str, style: Style) -> str:
    if not text:
        return ""  # an empty cell, not an empty string
    styled = f' s="{int(style)}"' if style else ""
    return f'<c r="{ref}" t="inlineStr"{styled}><is><t xml:space="preserve">{_xml_text(text)}</t></is></c>'


def _xml_text(text: str) -> str:
    """A cell's text as XML character data (see :data:`_OOXML_ESCAPED`)."""
    return _OOXML_ESCAPED.sub(lambda found: f"_x{ord(found.group()):04X}_", escape(shown(text)))


def _cell(ref: str, cell: XCell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, str):
        return _text_cell(ref, cell, Style.PLAIN)
    if isinstance(cell, Styled):
        return _text_cell(ref, cell.text, cell.style)
    value = cell.value if isinstance(cell.value, int) else format(cell.value, "f")
    styled = f' s="{int(cell.style)}"' if cell.style else ""
    return f'<c r="{ref}"{styled}><v>{value}</v></c>'


class SheetWriter:
    """One worksheet being written: :meth:`row` appends the next row."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._rows = 0
        self._pending: list[str] = []
        self._letters: list[str] = []

    @property
    def rows(self) -> int:
        return self._rows

    def row(self, cells: Sequence[XCell]) -> None:
        self._rows += 1
        while len(self._letters) < len(cells):
            self._letters.append(column_letter(len(self._letters) + 1))
        number = self._rows
        body = "".join(_cell(f"{self._letters[n]}{number}", cell) for n, cell in enumerate(cells))
        self._pending.append(f'<row r="{number}">{body}</row>')
        if len(self._pending) >= _FLUSH_ROWS:
            self.flush()

    def blank(self) -> None:
        """An empty row."""
        self._rows += 1

    def flush(self) -> None:
        if self._pending:
            self._out.write("".join(self._pending).encode("utf-8"))
            self._pending.clear()


class WorkbookWriter:
    """A workbook streamed into ``target``: its worksheets named up front (the package's manifest comes first
    in the zip, where tools that sniff a file's type look), then written one after another (:meth:`sheet`);
    leaving the ``with`` finishes the zip. Memory stays flat whatever the row count."""

    def __init__(self, target: IO[bytes], sheet_names: Sequence[str], *, compresslevel: int = 1) -> None:
        for name in sheet_names:
            if not name or len(name) > MAX_SHEET_NAME or any(c in name for c in "[]:*?/\\"):
                raise ValueError(f"not a worksheet name Excel accepts: {name!r}")
        if not sheet_names or len(set(sheet_names)) != len(sheet_names):
            raise ValueError("a workbook needs one or more worksheets, each named once")
        self._names = list(sheet_names)
        self._written = 0
        self._zip = zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
        for part, content in _package_parts(self._names):
            self._zip.writestr(part, content)

    def __enter__(self) -> WorkbookWriter:
        return self

    def __exit__(self, kind: object, *rest: object) -> None:
        self._zip.close()
        if kind is None and self._written != len(self._names):
            raise ValueError(f"{len(self._names) - self._written} worksheet(s) named but never written")

    @contextmanager
    def sheet(self, widths: Mapping[int, float] | None = None) -> Iterator[SheetWriter]:
        """Write the next worksheet, with the given column widths (1-based column → width in characters)."""
        if self._written == len(self._names):
            raise ValueError("every worksheet named is written")
        self._written += 1
        cols = "".join(f'<col min="{c}" max="{c}" width="{w:g}" customWidth="1"/>'
                       for c, w in sorted((widths or {}).items()))
        with self._zip.open(f"xl/worksheets/sheet{self._written}.xml", "w", force_zip64=True) as out:
            out.write(f'{_HEAD}<worksheet xmlns="{_MAIN}">{f"<cols>{cols}</cols>" if cols else ""}<sheetData>'
                      .encode())
            writer = SheetWriter(out)
            yield writer
            writer.flush()
            out.write(b"</sheetData></worksheet>")


def _package_parts(names: Sequence[str]) -> list[tuple[str, str]]:
    """Every part of the workbook but its worksheets, the manifest first."""
    count = len(names)
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{n}.xml" ContentType="{kinds}.worksheet+xml"/>'
                        for n in range(1, count + 1))
    manifest = (f'{_HEAD}<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                f'<Override PartName="/xl/workbook.xml" ContentType="{kinds}.sheet.main+xml"/>{overrides}'
                f'<Override PartName="/xl/styles.xml" ContentType="{kinds}.styles+xml"/></Types>')
    sheets = "".join(f'<sheet name={quoteattr(shown(name))} sheetId="{n}" r:id="rId{n}"/>'
                     for n, name in enumerate(names, start=1))
    relations = "".join(f'<Relationship Id="rId{n}" Type="{_REL}/worksheet" Target="worksheets/sheet{n}.xml"/>'
                        for n in range(1, count + 1))
    return [
        ("[Content_Types].xml", manifest),
        ("_rels/.rels", f'{_HEAD}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
                        f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'),
        ("xl/workbook.xml", f'{_HEAD}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>{sheets}</sheets></workbook>'),
        ("xl/_rels/workbook.xml.rels", f'{_HEAD}<Relationships xmlns="{_PKG_REL}">{relations}<Relationship '
                                       f'Id="rId{count + 1}" Type="{_REL}/styles" Target="styles.xml"/>'
                                       "</Relationships>"),
        ("xl/styles.xml", _STYLES),
    ]
