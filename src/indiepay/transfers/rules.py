"""Pure rules of bank-transfer matching: reading a statement file, and deciding what one credit pays.

**The statement file** is a CSV (UTF-8, a BOM tolerated; GBK, as Chinese banks export it, also read) with a
header row naming its columns, in English or as the banks print them:

==============  ===========================  ==============================================================
column          also accepted                what it holds
==============  ===========================  ==============================================================
bank_txn_id     交易流水号, 流水号            the bank's own number of the transaction (unique per account)
booked_at       交易时间, 记账日期            ISO 8601 with a zone, or ``YYYY-MM-DD[ HH:MM[:SS]]`` Beijing time
amount          金额, 交易金额                yuan, up to 2 decimals, ``,`` separators allowed; negative = debit
payer_name      对方户名, 付款人              optional
memo            附言, 摘要, 用途              optional, but the reference code is looked for here
currency        币种                          optional; ``CNY``/``人民币`` (the only currency taken)
==============  ===========================  ==============================================================

Rows end in ``\\r\\n``, ``\\n`` or a lone ``\\r``. A file with any malformed row — a booking time outside
:func:`indiepay.core.clock.storable_utc`'s range included — is refused as a whole (the row and field named),
before anything is written.
Debits (outgoing transfers, e.g. the merchant's own refunds) are skipped; they are not money to match.

**A credit pays a payment** when its memo holds exactly one reference code, exactly one payment of the
account carries that code, that payment has not been paid already, and the amounts are equal to the fen.
Anything else is kept unmatched with the reason, for a person to settle — never guessed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from indiepay.channels.banktransfer import references_in
from indiepay.core.clock import BUSINESS_TZ, storable_utc
from indiepay.core.errors import InvalidRequest
from indiepay.core.money import MAX_AMOUNT_FEN

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 100_000
COLUMNS = {
    "bank_txn_id": ("bank_txn_id", "交易流水号", "流水号"),
    "booked_at": ("booked_at", "交易时间", "记账日期"),
    "amount": ("amount", "金额", "交易金额"),
    "payer_name": ("payer_name", "对方户名", "付款人"),
    "memo": ("memo", "附言", "摘要", "用途"),
    "currency": ("currency", "币种"),
}
REQUIRED = ("bank_txn_id", "booked_at", "amount")
CNY = ("", "CNY", "RMB", "人民币")
_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d")
_AMOUNT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")  # plain ASCII decimals: no exponent, no "_"
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")

MATCHED, UNMATCHED = "matched", "unmatched"


@dataclass(frozen=True)
class StatementRow:
    """One credit of the statement (debits never become rows)."""

    line: int
    bank_txn_id: str
    booked_at: datetime
    amount: int
    payer_name: str | None
    memo: str | None


@dataclass(frozen=True)
class Candidate:
    """A payment of the account whose reference code the memo names."""

    payment_id: str
    amount: int
    status: str


@dataclass(frozen=True)
class Decision:
    status: str
    reason: str | None = None
    payment_id: str | None = None


def _refuse(message: str, line: int | None = None, field: str | None = None) -> InvalidRequest:
    details: dict[str, object] = {}
    if line is not None:
        details["line"] = line
    if field is not None:
        details["field"] = field
    return InvalidRequest(message, code="invalid_statement", details=details)


def _text(content: bytes) -> str:
    if len(content) > MAX_BYTES:
        raise _refuse(f"a statement file is at most {MAX_BYTES // (1024 * 1024)} MB")
    if b"\x00" in content:  # no bank writes one into text; PostgreSQL could not store it (a 500, half an import)
        line = len(_LINE_BREAK.split(content[:content.index(b"\x00")]))
        raise _refuse("the statement holds a NUL character: not a text export", line)
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise _refuse("the statement is neither UTF-8 nor GBK text")


def _header(names: Sequence[str]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for index, raw in enumerate(names):
        name = raw.strip().lower()
        for column, aliases in COLUMNS.items():
            if name in aliases:
                if column in positions:
                    raise _refuse(f"the header names {column} twice", 1, column)
                positions[column] = index
    missing = [column for column in REQUIRED if column not in positions]
    if missing:
        raise _refuse(f"the header has no {missing[0]} column", 1, missing[0])
    return positions


def parse_time(text: str) -> datetime:
    """A booking time as aware UTC; a time without a zone is Beijing time.

    Raises ValueError for text that is not a time, or a time outside the storable range
    (:func:`indiepay.core.clock.storable_utc`: year 1 in Beijing time has no UTC, and reached the
    database as a server error half-way through an import)."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        parsed = None
    if parsed is None:
        for form in _TIME_FORMATS:
            try:
                parsed = datetime.strptime(value, form)  # noqa: DTZ007 - Beijing attached below
                break
            except ValueError:
                continue
    if parsed is None:
        raise ValueError(f"{value!r} is not a date and time")
    try:
        return storable_utc(parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=BUSINESS_TZ))
    except ValueError as exc:
        raise ValueError(f"{value!r}: {exc}") from None


def parse_amount(text: str) -> int:
    """Yuan with at most two decimals (``1,234.5``, ``-88.00``) as signed fen.

    Only plain decimals are read: ``Decimal`` alone also takes ``1e9999999`` (whose ``abs`` overflowed the
    context, a server error), ``1_000`` and full-width digits, none of which a bank writes."""
    cleaned = text.strip().replace(",", "").replace("¥", "").replace("￥", "")
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(f"{text!r} is not an amount")
    value = Decimal(cleaned)
    if value.copy_abs() > Decimal(MAX_AMOUNT_FEN) / 100:  # first: no overflow below
        raise ValueError(f"{text!r} is not an amount in yuan a bank statement can hold")
    if value != value.quantize(Decimal("0.01")):
        raise ValueError(f"{text!r} is not an amount in yuan with at most two decimals")
    return int(value * 100)


def parse_statement(content: bytes) -> list[StatementRow]:
    """The credits of a statement file. Raises InvalidRequest ``invalid_statement`` naming the first bad
    row (1 is the header) and field, or the header's problem, before any row is used: whatever a credit
    holds once parsed can be stored, so an import never stops half-way on its content.

    Rows may end in ``\\r\\n``, ``\\n`` or a lone ``\\r`` (older bank systems export the last). Quoting is
    read strictly: a quote left open would otherwise swallow every row after it into one field — credits
    silently not imported."""
    rows: list[list[str]] = []
    try:
        for row in csv.reader(io.StringIO(_text(content), newline=""), strict=True):
            rows.append(row)
    except csv.Error as exc:  # a quote left open or followed by text, a field over the module's 128 KiB limit
        raise _refuse(f"the statement is not a readable CSV file: {exc}", len(rows) + 1) from None
    if not rows:
        raise _refuse("the statement is empty")
    if len(rows) > MAX_ROWS + 1:
        raise _refuse(f"a statement file holds at most {MAX_ROWS} rows")
    positions = _header(rows[0])
    credits: list[StatementRow] = []
    seen: set[str] = set()
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue

        def cell(column: str, row: list[str] = row) -> str:
            index = positions.get(column)
            return row[index].strip() if index is not None and index < len(row) else ""

        txn_id = cell("bank_txn_id")
        if not txn_id or len(txn_id) > 64:
            raise _refuse("bank_txn_id is missing or longer than 64 characters", number, "bank_txn_id")
        if txn_id in seen:
            raise _refuse(f"bank_txn_id {txn_id} appears twice in the file", number, "bank_txn_id")
        seen.add(txn_id)
        try:
            booked_at = parse_time(cell("booked_at"))
        except ValueError as exc:
            raise _refuse(str(exc), number, "booked_at") from None
        try:
            amount = parse_amount(cell("amount"))
        except ValueError as exc:
            raise _refuse(str(exc), number, "amount") from None
        if cell("currency").upper() not in CNY:
            raise _refuse(f"currency {cell('currency')!r}: only CNY transfers are taken", number, "currency")
        if amount <= 0:
            continue  # a debit or a zero line: nothing arrived
        credits.append(StatementRow(line=number, bank_txn_id=txn_id, booked_at=booked_at, amount=amount,
                                    payer_name=cell("payer_name")[:100] or None, memo=cell("memo")[:200] or None))
    return credits


def references(memo: str | None) -> list[str]:
    return references_in(memo or "")


def decide(amount: int, codes: Sequence[str], candidates: Sequence[Candidate]) -> Decision:
    """What one credit of ``amount`` with ``codes`` in its memo pays, among the payments carrying them."""
    if not codes:
        return Decision(UNMATCHED, "no_reference")
    if len(codes) > 1 or len(candidates) > 1:
        return Decision(UNMATCHED, "ambiguous_reference")
    if not candidates:
        return Decision(UNMATCHED, "unknown_reference")
    payment = candidates[0]
    if payment.status == "succeeded":
        return Decision(UNMATCHED, "already_paid", payment.payment_id)
    if payment.status not in ("pending", "closed"):
        return Decision(UNMATCHED, "unknown_reference")
    if amount != payment.amount:
        return Decision(UNMATCHED, "amount_mismatch", payment.payment_id)
    return Decision(MATCHED, None, payment.payment_id)
