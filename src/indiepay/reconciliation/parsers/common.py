"""Helpers every bill parser shares: streaming decode, exact amounts, local times, summary comparison.

Rounding and exactness rules (one place, so WeChat Pay and Alipay agree):

* **Trade and refund amounts** are yuan strings with at most two decimals and must be a whole number of
  fen; ``"0.015"`` is a :class:`BillAmountError`, never rounded. They are converted with ``Decimal``.
* **Fees** (WeChat ``手续费`` has five decimals) are kept as the exact ``Decimal`` the bill printed *and*
  as fen rounded **ROUND_HALF_UP** (half away from zero, so a returned fee mirrors its charge) — the rule
  of :func:`indiepay.core.money.yuan_to_fen_rounded` and the ledger's fee arithmetic. Fee totals are
  compared on the exact Decimal sums, never on sums of rounded fen.
* **Printed totals** are compared exactly, except that a total printed with fewer decimals than the rows
  carry (WeChat prints ``手续费总金额`` as ``0.08`` over rows of ``0.01000``) may differ from the exact sum
  by at most half a unit of its last printed decimal — agnostic of how the channel rounds it.
* **Magnitudes** are capped as the columnar readers cap them: at most :data:`AMOUNT_DIGITS` digits before
  the point for an amount or a count, :data:`FEE_DIGITS` for a fee, so that every sum stays exact in
  ``Decimal``'s 28 digits; a bigger number is a :class:`BillAmountError` with its line, not a crash.
* **Times** in bills are naive Beijing wall-clock times; they become aware ``Asia/Shanghai`` datetimes,
  whatever the server's ``TZ``, and must lie in the storable range (:data:`indiepay.core.clock.EARLIEST_STORABLE`
  to ``LATEST_STORABLE``): year 1 does not even convert to UTC.
"""

from __future__ import annotations

import codecs
import csv
import io
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, BinaryIO

from indiepay.core.clock import BUSINESS_TZ, EARLIEST_STORABLE, LATEST_STORABLE
from indiepay.reconciliation.errors import (
    BillAmountError,
    BillEncodingError,
    BillFormatError,
    BillTotalsMismatch,
)

BillSource = bytes | bytearray | BinaryIO | Iterable[bytes]
"""What a parser reads: the whole file as bytes, a binary stream, or any iterator of byte lines."""

ZIP_ERRORS: tuple[type[Exception], ...] = (
    zipfile.BadZipFile, zlib.error, lzma.LZMAError, struct.error, EOFError, NotImplementedError, RuntimeError,
    ValueError, OSError)
"""What :mod:`zipfile` raises reading a damaged archive held in memory: a bad directory or CRC (``BadZipFile``),
damaged compressed data (``zlib.error``; ``OSError`` from bzip2, ``LZMAError``), a cut stream (``EOFError``),
an unknown version or method (``NotImplementedError``), an encrypted entry (``RuntimeError``), offsets before
the start of the file or names that are not UTF-8 (``ValueError``). Each parser turns them into its
:class:`~indiepay.reconciliation.errors.BillArchiveError`."""
ZIP_DATA_ERRORS: tuple[type[Exception], ...] = (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, OSError)
"""Those of an entry's data as it streams (a parser's own errors interleaved with them stay its own)."""

_NUMBER = re.compile(r"-?([0-9]+)(?:\.([0-9]+))?")
_HUNDRED = Decimal(100)
_ONE = Decimal(1)
AMOUNT_DIGITS = 15
"""Digits before the point of an amount (yuan) or a count: what the columnar reader's ``DECIMAL(18, 2)`` holds."""
FEE_DIGITS = 12
"""Digits before the point of a fee (yuan, five decimals): what the columnar reader's ``DECIMAL(18, 5)`` holds."""
_EARLIEST_LOCAL = EARLIEST_STORABLE.astimezone(BUSINESS_TZ).replace(tzinfo=None)
_LATEST_LOCAL = LATEST_STORABLE.astimezone(BUSINESS_TZ).replace(tzinfo=None)
_PARENS = str.maketrans({"（": "(", "）": ")"})
_MEMO_LIMIT = 16384
_FEN_MEMO: dict[str, int] = {}
_YUAN_MEMO: dict[str, Decimal] = {}


def byte_lines(source: BillSource) -> Iterable[bytes]:
    """The source as an iterable of byte lines, without reading a stream into memory."""
    if isinstance(source, bytes | bytearray):
        return io.BytesIO(bytes(source))
    return source


def text_lines(source: BillSource, encoding: str) -> Iterator[str]:
    """Decode ``source`` line by line, strictly.

    ``utf-8-sig`` drops the BOM WeChat Pay writes. Line breaks are kept so :mod:`csv` sees CRLF and
    quoted multi-line fields exactly as written. (``\\n`` never occurs inside a UTF-8 or GBK character,
    so splitting the bytes on it first is safe.)

    Raises:
        BillEncodingError: a line holds bytes that are not valid in ``encoding``.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line_no = 0
    for line_no, chunk in enumerate(byte_lines(source), start=1):
        try:
            text = decoder.decode(chunk)
        except UnicodeDecodeError as exc:
            raise BillEncodingError(f"line {line_no} is not valid {encoding}", details={"line": line_no}) from exc
        if text:
            yield text
    try:
        tail = decoder.decode(b"", final=True)
    except UnicodeDecodeError as exc:
        raise BillEncodingError(f"the file ends inside a {encoding} character", details={"line": line_no}) from exc
    if tail:
        yield tail


def header_key(name: str) -> str:
    """A header cell as a lookup key: no BOM, backtick, tabs or spaces; full-width parentheses as ASCII."""
    return name.strip().lstrip("\ufeff`").strip().translate(_PARENS)


def cell(value: str) -> str:
    """A WeChat Pay field without its leading backtick (the bill writes one so Excel keeps ids as text)."""
    return value[1:] if value.startswith("`") else value


def _number(text: str, column: str, line: int, digits: int = AMOUNT_DIGITS) -> tuple[Decimal, str]:
    """The number (ASCII digits, at most ``digits`` of them before the point) and its decimals as printed."""
    value = text.strip()
    match = _NUMBER.fullmatch(value)
    if match is None:
        raise BillAmountError(f"line {line}: {column} is not a decimal amount: {text!r}",
                              details={"line": line, "column": column, "value": text})
    if len(match.group(1).lstrip("0")) > digits:
        raise BillAmountError(f"line {line}: {column} is out of range (more than {digits} digits before the point): "
                              f"{text[:64]!r}", details={"line": line, "column": column, "value": text[:64]})
    try:
        return Decimal(value), match.group(2) or ""
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid literals
        raise BillAmountError(f"line {line}: {column} is not a decimal amount: {text!r}",
                              details={"line": line, "column": column, "value": text}) from exc


def _remember(memo: dict[str, Any], text: str, value: Any) -> None:
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    memo[text] = value


def parse_fen(text: str, column: str, line: int) -> int:
    """A yuan amount as integer fen; anything that is not a whole number of fen is refused.

    Conversions are memoised per distinct text (bills repeat ``0.00`` and a few prices endlessly); the
    memo is bounded and only ever holds successful ``Decimal`` conversions.

    Raises:
        BillAmountError: not a plain decimal, or finer than one fen.
    """
    fen = _FEN_MEMO.get(text)
    if fen is None:
        value, decimals = _number(text, column, line)
        if len(decimals.rstrip("0")) > 2:  # read from the text: scaling a long number would round it first
            raise BillAmountError(f"line {line}: {column} is not a whole number of fen: {text!r}",
                                  details={"line": line, "column": column, "value": text})
        fen = int(value * _HUNDRED)  # exact: at most AMOUNT_DIGITS + 2 significant digits
        _remember(_FEN_MEMO, text, fen)
    return fen


def parse_yuan(text: str, column: str, line: int) -> Decimal:
    """A yuan amount kept exactly as printed (fees carry five decimals); memoised like :func:`parse_fen`.

    Raises:
        BillAmountError: not a plain decimal number.
    """
    value = _YUAN_MEMO.get(text)
    if value is None:
        value = _number(text, column, line, FEE_DIGITS)[0]
        _remember(_YUAN_MEMO, text, value)
    return value


def fee_fen(value: Decimal) -> int:
    """An exact fee in yuan as fen, ROUND_HALF_UP (half away from zero); see the module docstring.

    Raises:
        BillAmountError: a fee too large to round (the parsers refuse one before it gets here).
    """
    try:
        return int((value * _HUNDRED).quantize(_ONE, rounding=ROUND_HALF_UP))
    except InvalidOperation as exc:
        raise BillAmountError(f"a fee of {value} yuan is out of range", details={"value": str(value)}) from exc


def format_fee(value: Decimal, places: int = 5) -> str:
    """A fee as the bill prints it (``0.01000``); refuses a value that would need rounding to print."""
    quantum = Decimal(1).scaleb(-places)
    printed = value.quantize(quantum)
    if printed != value:
        raise ValueError(f"fee {value} has more than {places} decimals")
    return f"{printed:.{places}f}"


def parse_count(text: str, column: str, line: int) -> int:
    """A printed count; WeChat Pay sometimes prints ``45.0``, which is accepted when integral."""
    value = _number(text, column, line)[0]
    if value != value.to_integral_value() or value < 0:
        raise BillFormatError(f"line {line}: {column} is not a count: {text!r}",
                              details={"line": line, "column": column, "value": text})
    return int(value)


def parse_local_time(text: str, column: str, line: int) -> datetime:
    """``2019-02-19 05:01:46`` (Beijing wall clock) as an aware Asia/Shanghai datetime.

    Raises:
        BillFormatError: not a ``YYYY-MM-DD HH:MM:SS`` time, one that already names a zone, or one outside
            the storable range (see the module docstring).
    """
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is not None or len(value) != 19:
        raise BillFormatError(f"line {line}: {column} is not a 'YYYY-MM-DD HH:MM:SS' time: {text!r}",
                              details={"line": line, "column": column, "value": text})
    if not _EARLIEST_LOCAL <= parsed < _LATEST_LOCAL:  # naive, in Beijing: a cheap test on the hot path
        raise BillFormatError(f"line {line}: {column} is out of range ({_EARLIEST_LOCAL:%Y-%m-%d} to "
                              f"{_LATEST_LOCAL:%Y-%m-%d}): {text!r}",
                              details={"line": line, "column": column, "value": text})
    return parsed.replace(tzinfo=BUSINESS_TZ)


def format_local_time(value: datetime) -> str:
    """An aware datetime as the Beijing wall-clock text bills use."""
    if value.tzinfo is None:
        raise ValueError("bill times must be timezone-aware")
    return value.astimezone(BUSINESS_TZ).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True, slots=True)
class TotalCheck:
    """One printed total against the sum of the rows."""

    field: str
    printed: Decimal
    computed: Decimal

    def agrees(self) -> bool:
        """Exact, or within half a unit of the printed total's last decimal when it prints fewer."""
        if self.printed == self.computed:
            return True
        exponent = self.printed.as_tuple().exponent
        places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        return abs(self.computed - self.printed) * 2 <= Decimal(1).scaleb(-places)


def check_totals(checks: Iterable[TotalCheck], *, what: str) -> None:
    """Raise one error listing every printed total that the rows do not add up to.

    Raises:
        BillTotalsMismatch: with ``details["mismatches"]`` = ``[{field, printed, computed}]``.
    """
    mismatches = [{"field": c.field, "printed": str(c.printed), "computed": str(c.computed)}
                  for c in checks if not c.agrees()]
    if mismatches:
        listed = "; ".join(f"{m['field']}: printed {m['printed']}, rows add up to {m['computed']}"
                           for m in mismatches)
        raise BillTotalsMismatch(f"{what}: detail rows disagree with the bill's own totals ({listed})",
                                 details={"mismatches": mismatches})


def fen_to_decimal(fen: int) -> Decimal:
    """Fen as an exact yuan Decimal, for comparing with printed totals."""
    return Decimal(fen).scaleb(-2)


def map_header(cells: list[str], aliases: dict[str, str], line: int) -> dict[str, int]:
    """Header cells → {canonical name: position}, by name (layouts and vintages order columns differently).

    Raises:
        BillFormatError: a column name appears twice.
    """
    positions: dict[str, int] = {}
    for position, raw in enumerate(cells):
        key = header_key(raw)
        name = aliases.get(key, key)
        if name in positions:
            raise BillFormatError(f"line {line}: column {raw!r} appears twice in the header",
                                  details={"line": line, "column": raw})
        positions[name] = position
    return positions


class CsvRows:
    """csv rows of a decoded bill, skipping blank lines, with csv errors turned into bill errors."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._csv = csv.reader(lines)

    def next_nonblank(self) -> tuple[list[str] | None, int]:
        """The next row that is not blank and its (last) physical line number; ``None`` at the end.

        Raises:
            BillFormatError: the csv module cannot split a line (e.g. a NUL byte, an unclosed quote).
        """
        try:
            for fields in self._csv:
                if fields and (fields[0].strip() or any(f.strip() for f in fields)):
                    return fields, self._csv.line_num
        except csv.Error as exc:
            raise BillFormatError(f"line {self._csv.line_num}: {exc}", details={"line": self._csv.line_num}) from exc
        return None, self._csv.line_num

    def next_detail(self, *, columns: int, summary_first: str, what: str) -> tuple[list[str], int, bool]:
        """The next row of a WeChat bill's detail section with its line, and whether it is the summary
        header (first column ``summary_first``) that ends the section.

        Raises:
            BillFormatError: the file ends before its summary (truncated), or a row has the wrong width.
        """
        fields, line = self.next_nonblank()
        if fields is None:
            raise BillFormatError(f"the {what} ends without its summary section (truncated?)",
                                  details={"line": line})
        if summary_first in fields[0] and header_key(fields[0]) == summary_first:
            return fields, line, True
        if len(fields) != columns:
            raise BillFormatError(f"line {line}: {len(fields)} fields, the header has {columns}",
                                  details={"line": line, "fields": len(fields), "expected": columns})
        return fields, line, False

    def summary_values(self, header: list[str], header_line: int, what: str) -> tuple[list[str], int]:
        """The one row under a summary header; nothing but blank lines may follow it.

        Raises:
            BillFormatError: no summary row, a row of the wrong width, or data after it.
        """
        values, line = self.next_nonblank()
        if values is None:
            raise BillFormatError(f"{what}: the summary header has no summary row", details={"line": header_line})
        if len(values) != len(header):
            raise BillFormatError(f"line {line}: summary row has {len(values)} fields, its header {len(header)}",
                                  details={"line": line})
        trailing, after = self.next_nonblank()
        if trailing is not None:
            raise BillFormatError(f"line {after}: data after the summary row", details={"line": after})
        return values, line
