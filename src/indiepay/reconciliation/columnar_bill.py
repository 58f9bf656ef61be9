"""WeChat Pay trade bill read by DuckDB: the fast path of :mod:`.parsers.wechat_trade` for a bill on disk.

A million-row bill costs the Python reader ~45 s (30–40 µs a row); DuckDB reads the same file in parallel
in about a second. The two must never disagree, so this path is deliberately *conservative*: it accepts
only bills whose every byte and field it can read exactly as :class:`.parsers.wechat_trade.WechatTradeBillReader`
would, and otherwise answers ``None`` so the caller falls back to that reader (which then either reads the
unusual bill or raises the precise error with its line number). The Python reader stays the reference;
this module only speeds up the common case. What it shares with the reader rather than re-implementing:
the header (read by the reader itself), the summary section (:func:`.parsers.wechat_trade.read_summary`) and the
comparison of totals (:func:`.parsers.wechat_trade.check_summary`) — a totals mismatch is raised from here, with
the same figures the reader would compute.

Accepted here (anything else falls back):

* the byte-level checks of :class:`PlainText`: strict UTF-8, no NUL, no quote character (so a field is
  exactly the text between two commas, in both CSV readers), no ``\\r`` outside a CRLF line end;
* the header on line 1, then one detail row per line (no blank lines; every row exactly as wide as the
  header) up to the summary header, whose line is found from the end of the file;
* amounts ``-?d+`` with at most two decimals (fees five), times ``YYYY-MM-DD HH:MM:SS`` from 1992 on
  (Asia/Shanghai has been UTC+8 without DST since) to 9998, in every time column, ASCII digits only, no
  surrounding whitespace; amounts and fees that add up, without their signs, to at most
  :data:`.parsers.normalised.TOTAL_LIMIT` fen.

Amounts are exact: DuckDB casts the validated text to ``DECIMAL(18, 2)`` / ``DECIMAL(18, 5)`` and scales to
integers (fen; fees in 10⁻⁵ yuan, rounded to fen ROUND_HALF_UP in integers) — never through a float.
The result is the normalised bill (:data:`.parsers.normalised.COLUMNS`) as Parquet, empty text stored as NULL as
DuckDB reads the normalised CSV, with ``line_no`` the row's physical line.
"""

# ruff: noqa: S608 -- the SQL is assembled from this module's constants and column positions (integers);
# the file paths are bound as parameters.

from __future__ import annotations

import codecs
import csv
import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from indiepay.reconciliation.errors import BillError
from indiepay.reconciliation.parsers.common import CsvRows, header_key
from indiepay.reconciliation.parsers.normalised import TOTAL_LIMIT
from indiepay.reconciliation.parsers.wechat_trade import (
    TradeBillSummary,
    TradeBillTotals,
    WechatTradeBillReader,
    check_summary,
    read_summary,
)

TAIL_BYTES = 64 * 1024
SCANNED = "scanned_bill"
_LONE_CR = re.compile(rb"\r(?!\n)")
"""A ``\\r`` not followed by ``\\n`` (one search: three times cheaper than counting both, per MiB)."""
_TIME = r"(199[2-9]|[2-8][0-9]{3}|9[0-8][0-9]{2})-[0-9]{2}-[0-9]{2} ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
"""A time from 1992 to 9998: inside the range the Python reader admits (:func:`.parsers.common.parse_local_time`)."""
_FEN = r"-?[0-9]{1,15}(\.[0-9]{1,2})?"
_FEE = r"-?[0-9]{1,12}(\.[0-9]{1,5})?"
_FIELDS = {  # canonical header name -> SQL name of the stripped field
    "交易时间": "trade_time", "微信订单号": "transaction_id", "商户订单号": "out_trade_no", "交易状态": "trade_state",
    "货币种类": "currency", "应结订单金额": "settlement", "代金券金额": "coupon", "退款申请时间": "requested_at",
    "退款成功时间": "succeeded_at", "微信退款单号": "refund_id", "商户退款单号": "out_refund_no", "退款金额": "refund",
    "充值券退款金额": "recharge", "退款状态": "refund_status", "手续费": "fee", "订单金额": "order_total",
    "申请退款金额": "requested", "商户号": "mch_id",
}
_FEN_COLUMNS = ("settlement", "coupon", "refund", "recharge", "order_total", "requested")


class PlainText:
    """Byte-level admission test of the fast path, fed block by block during the hashing pass.

    Strict UTF-8 (the Python reader's decoding), no NUL, no ``"`` (so neither CSV reader quotes), and every
    ``\\r`` part of a ``\\r\\n`` (so both split lines at the same places). Also counts the lines and
    the commas (:func:`scan_trade_bill` proves with them that no field holds one).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.plain = True
        self.newlines = 0
        self.commas = 0
        self._last = b""

    def update(self, block: bytes) -> None:
        """Check the next block of the file."""
        self.newlines += block.count(b"\n")
        self.commas += block.count(b",")
        if not self.plain:
            return
        joined = self._last + block[:1]
        lone_cr = _LONE_CR.search(block, 0, len(block) - 1 if block.endswith(b"\r") else len(block))
        if lone_cr or (joined[:1] == b"\r" and joined != b"\r\n") or b"\x00" in block or b'"' in block:
            self.plain = False
            return
        self._last = block[-1:]
        if block.isascii() and not self._decoder.getstate()[0]:
            return  # nothing to decode (most of a bill): isascii is a fast scan, decoding is not
        try:
            self._decoder.decode(block)
        except UnicodeDecodeError:
            self.plain = False

    def finish(self) -> bool:
        """Whether the whole file passed (call once, after the last block)."""
        if self.plain:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self.plain = False
        return self.plain and self._last != b"\r"


@dataclass(frozen=True)
class ColumnarBill:
    """A trade bill read by DuckDB: its rows as normalised Parquet (``normalised``) or, when ``select`` is
    set, as that query over :data:`SCANNED` in the database it was read into (no file written)."""

    rows: int
    first_day: date | None
    normalised: Path
    select: str | None = None
    summary: TradeBillSummary | None = None  # the bill's summary row, checked against the rows
    merchant_no: str | None = None  # whose bill it says it is (see merchant_no_of)


SEVERAL = "<several>"


def merchant_no_of(numbers: set[str]) -> str | None:
    """The merchant number a bill's rows name: None when they name none (no rows), :data:`SEVERAL` when
    they disagree — a direct merchant's bill names one, so that is never the account's."""
    if not numbers:
        return None
    return next(iter(numbers)) if len(numbers) == 1 else SEVERAL


class ScanTarget:
    """Where a DuckDB scan of a bill puts its rows, shared by this module and :mod:`.columnar_unionpay`:
    given ``into`` (the matcher's database), its table :data:`SCANNED`, kept only when the scan
    :meth:`publish`-es it; otherwise a private in-memory database (``threads``, ``memory_limit``, a spill
    directory beside ``normalised``) whose rows :meth:`publish` copies to the Parquet file ``normalised``.
    Insertion order is kept while scanning (a row's ``rowid`` is its line) and restored after."""

    def __init__(self, normalised: Path, into: duckdb.DuckDBPyConnection | None, *, threads: int,
                 memory_limit: str) -> None:
        self.normalised = normalised
        self.into = into
        self.db = into or duckdb.connect(":memory:")
        self.table = SCANNED if into is not None else "rows"
        self._kept = False
        ordered = self.db.execute("SELECT current_setting('preserve_insertion_order')").fetchone()
        self._ordered = bool(ordered and ordered[0])
        if into is None:
            self.db.execute(f"SET threads = {int(threads)}")
            self.db.execute(f"SET memory_limit = '{memory_limit}'")
            self.db.execute("SET temp_directory = $dir", {"dir": str(normalised.parent / "duckdb-bill.tmp")})
        self.db.execute("SET preserve_insertion_order = true")  # the matcher turns it off again

    def __enter__(self) -> ScanTarget:
        return self

    def publish(self, select: str) -> str | None:
        """Keep the scan: ``select`` (the normalised rows over :attr:`table`) copied to Parquet for a private
        database; returns the query to read them in the matcher's database, None when they are in the file."""
        if self.into is None:
            self.db.execute(f"COPY ({select}) TO '{_quote(self.normalised)}' (FORMAT parquet)")
        self._kept = True
        return select if self.into is not None else None

    def __exit__(self, *exc: object) -> None:
        if self.into is None:
            self.db.close()
            return
        self.db.execute(f"SET preserve_insertion_order = {self._ordered}")
        if not self._kept:
            self.db.execute(f"DROP TABLE IF EXISTS {self.table}")


def _blank(fields: list[str]) -> bool:
    return not fields or not any(f.strip() for f in fields)


def _summary(path: Path, newlines: int) -> tuple[TradeBillSummary, int, int] | None:
    """The summary section, read from the end of the file, the line of its header and the commas from
    there to the end; None if unusual."""
    size = path.stat().st_size
    with path.open("rb") as raw:
        raw.seek(max(0, size - TAIL_BYTES))
        tail = raw.read()
    lines = tail.split(b"\n")
    if size > TAIL_BYTES:
        lines = lines[1:]  # may start inside a line (or a character)
    total = newlines + (0 if tail.endswith(b"\n") else 1)
    texts = [line.decode("utf-8") for line in (lines[:-1] if tail.endswith(b"\n") else lines)]
    parsed = [next(csv.reader([text]), []) for text in texts]
    nonblank = [n for n, fields in enumerate(parsed) if not _blank(fields)]
    if len(nonblank) < 2:
        return None
    at = nonblank[-2]
    header = parsed[at]
    if header_key(header[0]) != "总交易单数":
        return None
    header_line = total - (len(texts) - at) + 1
    rows = CsvRows(iter([text + "\n" for text in texts[at + 1:]]))
    return read_summary(rows, header, header_line), header_line, sum(text.count(",") for text in texts[at:])


def _field(positions: dict[str, int], name: str, backticked: bool) -> str:
    index = positions.get(name)
    if index is None:
        return "''"
    if backticked and index > 0:
        return f"coalesce(c{index}, '')"  # the delimiter took the backtick
    return f"CASE WHEN starts_with(c{index}, '`') THEN c{index}[2:] ELSE coalesce(c{index}, '') END"


def _select(positions: dict[str, int], columns: int, backticked: bool = False) -> str:
    """One pass over the detail rows: the normalised values, the totals' terms and whether the row is one
    this path reads exactly (``ok``: one regular expression over the raw fields it parses, backtick
    included, which is cheaper than one per field). ``backticked`` splits fields at ``,``\\` `` instead of
    ``,`` (see :func:`scan_trade_bill`), which strips the backticks while tokenising."""
    has = {sql: name in positions for name, sql in _FIELDS.items()}
    stripped = ", ".join(f"{_field(positions, name, backticked)} AS {sql}" for name, sql in _FIELDS.items())
    shapes = [(positions["交易时间"], _TIME), (positions["手续费"], _FEE)]
    shapes += [(positions[name], _FEN) for name, sql in _FIELDS.items() if sql in _FEN_COLUMNS and has[sql]]
    shapes += [(positions[name], f"(0?|{_TIME})") for name in ("退款申请时间", "退款成功时间") if name in positions]
    raw = ", ',', ".join(f"c{index}" for index, _ in shapes)
    pattern = ",".join(f"`?{shape}" for _, shape in shapes)

    def fen(sql: str) -> str:
        return f"CAST(TRY_CAST({sql} AS DECIMAL(18, 2)) * 100 AS BIGINT)" if has[sql] else "NULL::BIGINT"

    def when(sql: str) -> str:
        return f"CASE WHEN {sql} NOT IN ('0', '') THEN TRY_CAST({sql} AS TIMESTAMP) END" if has[sql] \
            else "NULL::TIMESTAMP"

    names = ", ".join(f"'c{i}': 'VARCHAR'" for i in range(columns))
    return f"""
        WITH s AS (
            SELECT {stripped}, regexp_full_match(concat({raw}), '{pattern}') AS shaped
            FROM read_csv($path, header = false, skip = 1, delim = '{",`" if backticked else ","}', quote = '',
                          escape = '',
                          columns = {{{names}}}, auto_detect = false, ignore_errors = true)),
        p AS (
            SELECT *, TRY_CAST(trade_time AS TIMESTAMP) AS traded, {when('requested_at')} AS requested_ts,
                   {when('succeeded_at')} AS succeeded_ts, {fen('settlement')} AS settlement_fen,
                   {fen('refund')} AS refund_fen, {fen('recharge')} AS recharge_fen,
                   {fen('order_total')} AS order_fen, {fen('requested')} AS requested_fen,
                   CAST(TRY_CAST(fee AS DECIMAL(18, 5)) * 100000 AS BIGINT) AS fee_units FROM s),
        k AS (SELECT *, trade_state = 'REFUND' OR requested_ts IS NOT NULL AS is_refund FROM p)
        SELECT shaped AND traded IS NOT NULL AND (requested_ts IS NOT NULL OR requested_at IN ('0', ''))
                      AND (succeeded_ts IS NOT NULL OR succeeded_at IN ('0', '')) AS ok,
               CASE WHEN is_refund THEN 'refund' ELSE 'payment' END AS kind, out_trade_no, transaction_id,
               CASE WHEN is_refund AND out_refund_no NOT IN ('0', '') THEN out_refund_no ELSE '' END AS out_refund_no,
               CASE WHEN is_refund AND refund_id NOT IN ('0', '') THEN refund_id ELSE '' END AS refund_id,
               CASE WHEN is_refund THEN coalesce(requested_fen, refund_fen, 0)
                    ELSE coalesce(order_fen, settlement_fen) END AS amount_fen,
               sign(fee_units) * ((abs(fee_units) + 500) // 1000) AS fee_fen,
               CASE WHEN currency = '' THEN 'CNY' ELSE currency END AS currency,
               CASE WHEN is_refund THEN coalesce(succeeded_ts, requested_ts, traded) ELSE traded END AS event_time,
               CASE WHEN is_refund AND refund_status <> '' THEN refund_status ELSE trade_state END AS state, mch_id,
               settlement_fen, refund_fen, recharge_fen, order_fen, requested_fen, fee_units
        FROM k"""


def normalised_select(table: str, header_line: int) -> str:
    """The normalised bill (:data:`.parsers.normalised.COLUMNS`) of a scanned table (empty text as NULL)."""
    return f"""
        SELECT 'wechatpay' AS channel, kind, nullif(out_trade_no, '') AS out_trade_no,
               nullif(transaction_id, '') AS transaction_id, nullif(out_refund_no, '') AS out_refund_no,
               nullif(refund_id, '') AS refund_id, CAST(amount_fen AS BIGINT) AS amount_fen,
               CAST(fee_fen AS BIGINT) AS fee_fen, nullif(currency, '') AS currency,
               strftime(event_time - INTERVAL 8 HOUR, '%Y-%m-%dT%H:%M:%SZ') AS trade_time_utc,
               nullif(state, '') AS state, CAST({int(header_line) + 1} + rowid AS BIGINT) AS line_no
        FROM {table}"""


def scan_trade_bill(path: Path, normalised: Path, *, newlines: int, commas: int | None = None, threads: int = 2,
                    memory_limit: str = "768MB", into: duckdb.DuckDBPyConnection | None = None) -> ColumnarBill | None:
    """Read a plain-text trade bill (one that passed :class:`PlainText`, with ``newlines`` its count of
    ``\\n``) with DuckDB into ``normalised`` (Parquet) or, given ``into`` (a connection to the matcher's
    database), into its table :data:`SCANNED` (:attr:`ColumnarBill.select` reads it normalised): the
    matcher then skips writing and reading back a million rows of Parquet. Returns None when the bill
    is not one this path reads exactly: the caller then reads it with the Python reader.

    Given ``commas`` (the file's count), it first splits fields at ``,``\\` `` — every field of a
    WeChat bill row but the first starts with a backtick — so that DuckDB strips them while tokenising.
    That reading is the plain ``,`` one exactly when no field holds a comma, i.e. when every detail row
    has ``columns − 1`` commas: as DuckDB accepted one row of ``columns`` fields per detail line, that is
    when the file's commas are those of the header, the summary section and ``columns − 1`` a row. Any
    other outcome reads the bill again split at ``,``.

    Raises:
        BillTotalsMismatch: the rows, read exactly, disagree with the summary row.
    """
    try:
        with path.open("rb") as raw:
            reader = WechatTradeBillReader(raw)
            raw.seek(0)
            header_commas = raw.readline().count(b",")
        found = _summary(path, newlines)
    except (BillError, UnicodeDecodeError, csv.Error):
        return None
    if found is None or reader.header_line != 1:
        return None
    summary, summary_line, summary_commas = found
    expected = summary_line - reader.header_line - 1
    with ScanTarget(normalised, into, threads=threads, memory_limit=memory_limit) as target:
        try:
            figures = _scan(target.db, target.table, path, reader, expected=expected, commas=commas,
                            fixed_commas=header_commas + summary_commas)
        except duckdb.Error:  # bytes DuckDB's CSV reader refuses outright (its state machine, a line it cannot
            return None  # split): the Python reader decides; the table of a scan begun is dropped on the way out
        if figures is None:
            return None
        count, _, _, settlement, refund, recharge, order, requested, fee_units, first, low, high = figures
        check_summary(summary, TradeBillTotals(
            count=int(count), settlement_fen=int(settlement or 0), refund_fen=int(refund or 0),
            recharge_coupon_refund_fen=int(recharge or 0), fee=Decimal(int(fee_units or 0)).scaleb(-5),
            order_fen=int(order or 0), refund_requested_fen=int(requested or 0)))
        select = target.publish(normalised_select(target.table, reader.header_line))
    return ColumnarBill(rows=int(count), first_day=first, normalised=normalised, select=select, summary=summary,
                        merchant_no=merchant_no_of({low, high} - {None}))


def _scan(db: duckdb.DuckDBPyConnection, table: str, path: Path, reader: WechatTradeBillReader, *, expected: int,
          commas: int | None, fixed_commas: int) -> tuple[Any, ...] | None:
    """The detail rows read into ``table`` (split at ``,``\\` `` first when ``commas`` is given, see
    :func:`scan_trade_bill`) and their figures, or None when they are not ``expected`` rows read exactly.

    Raises:
        duckdb.Error: DuckDB cannot read the file at all.
    """
    for backticked in (True, False) if commas is not None else (False,):
        db.execute(f"DROP TABLE IF EXISTS {table}")
        db.execute(f"CREATE TABLE {table} AS {_select(reader.positions, reader.columns, backticked)}",
                   {"path": str(path)})
        figures = db.execute(f"""
            SELECT count(*), coalesce(bool_and(ok), true), min(event_time), sum(settlement_fen),
                   sum(refund_fen), sum(recharge_fen), sum(order_fen), sum(requested_fen), sum(fee_units),
                   (SELECT CAST(event_time AS DATE) FROM {table} WHERE rowid = 0), min(mch_id), max(mch_id),
                   greatest(sum(abs(amount_fen)), sum(abs(fee_fen)))
            FROM {table}""").fetchone()
        assert figures is not None
        count, ok, earliest, largest = *figures[:3], figures[-1]
        exact = (count == expected and ok and not (earliest is not None and earliest.year < 1992)
                 and (largest or 0) <= TOTAL_LIMIT)  # past it: the Python reader says where
        if not backticked or (exact and commas == fixed_commas + (reader.columns - 1) * count):
            break
    assert figures is not None
    return figures[:-1] if exact else None


def _quote(path: Path) -> str:
    """A path as a SQL string literal (COPY … TO takes no parameter)."""
    return str(path).replace("'", "''")
