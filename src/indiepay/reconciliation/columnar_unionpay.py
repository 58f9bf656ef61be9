"""UnionPay ZM file read by DuckDB: the fast path of :mod:`.parsers.unionpay` for an entry extracted to disk.

The Python reader takes ~30 µs a line (a million-line file: half a minute); DuckDB slices the same
fixed-width lines in parallel in about a second. As for the WeChat Pay bill (:mod:`.columnar_bill`), this
path is *conservative*: it accepts only a file it reads exactly as
:func:`.parsers.unionpay.parse_zm_lines` would, and otherwise answers ``None`` so the caller falls back to
that reader, which reads the unusual file or raises the precise error with its line number.

Accepted here (anything else falls back): as many rows as the entry has line breaks (DuckDB splitting at a
lone ``\\r`` or skipping a blank line shows as a different count), every line printable ASCII with exactly
the expected shape — the separators, ``交易类型`` 01 / 04 / 31, twelve-digit amounts, ``C``/``D`` signed
amounts (split and net blank or signed), a ``MMddHHmmss`` time that exists in the clearing day's year and is
not after the clearing day (else the year before), an order number (and a refund's original order number),
a settlement and net amount that add up — and no longer than a full line and two bytes; amounts and fees adding
up, without their signs, to at most :data:`.parsers.normalised.TOTAL_LIMIT` fen. A short line is
padded with blanks, as the reader pads it. Amounts are integers throughout; times become UTC by subtracting
Beijing's fixed eight hours.
"""

# ruff: noqa: S608 -- the SQL is assembled from this module's constants and the layout's integer offsets;
# the file path is bound as a parameter.

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb

from indiepay.reconciliation.columnar_bill import ColumnarBill, ScanTarget
from indiepay.reconciliation.parsers.normalised import TOTAL_LIMIT
from indiepay.reconciliation.parsers.unionpay import (
    LAYOUT,
    LINE_BYTES,
    OFFSETS,
    PAYMENT_TYPES,
    REFUND_TYPES,
    REQUIRED_BYTES,
)

_SHAPES = {
    "txn_type": "(" + "|".join(sorted(PAYMENT_TYPES | REFUND_TYPES)) + ")",
    "txn_amt": "[0-9]{12}", "mer_fee": "[CD][0-9]{12}", "settle_amt": "[CD][0-9]{12}",
    "split_amt": "([CD][0-9]{12}| {13})", "net_amt": "([CD][0-9]{12}| {13})", "trace_time": "[0-9]{10}",
}
_PATTERN = " ".join(_SHAPES.get(name, f"[ -~]{{{width}}}") for name, width in LAYOUT if name != "reserved") \
    + "( [ -~]*)?"
"""A line's shape as one regular expression — separators, the shaped fields, and printable ASCII throughout,
so character positions are byte positions and blanks are spaces (one pass over the line: cheaper in DuckDB
than forty single-character reads)."""
_REFUND = "(" + ", ".join(f"'{code}'" for code in sorted(REFUND_TYPES)) + ")"


def _raw(name: str) -> str:
    start, end = OFFSETS[name]
    return f"substr(l, {start + 1}, {end - start})"


def _text(name: str) -> str:
    return f"trim({_raw(name)}, ' ')"


def _signed(name: str) -> str:
    raw = _raw(name)
    return (f"CASE WHEN {raw}[1] = ' ' THEN NULL WHEN {raw}[1] = 'C' THEN CAST({raw}[2:] AS BIGINT) "
            f"ELSE -CAST({raw}[2:] AS BIGINT) END")


def _select(year: int) -> str:
    return f"""
        WITH lines AS (
            SELECT CASE WHEN length(line) < {REQUIRED_BYTES} THEN rpad(line, {REQUIRED_BYTES}, ' ') ELSE line END
                       AS l,
                   length(line) AS n
            FROM read_csv($path, header = false, columns = {{'line': 'VARCHAR'}}, delim = '\\t', quote = '',
                          escape = '', auto_detect = false, ignore_errors = true)),
        s AS (
            SELECT regexp_full_match(l, '{_PATTERN}') AND n <= {LINE_BYTES + 2} AS shaped,
                   {_text('txn_type')} AS txn_type, {_text('order_id')} AS order_id,
                   {_text('orig_order_id')} AS orig_order_id, {_text('query_id')} AS query_id,
                   {_text('orig_qry_id')} AS orig_qry_id, {_raw('trace_time')} AS trace_time, l
            FROM lines),
        v AS (
            SELECT *,
                   CASE WHEN shaped THEN CAST({_raw('txn_amt')} AS BIGINT) END AS amount_fen,
                   CASE WHEN shaped THEN {_signed('mer_fee')} END AS fee,
                   CASE WHEN shaped THEN {_signed('settle_amt')} END AS settle,
                   CASE WHEN shaped THEN {_signed('split_amt')} END AS split,
                   CASE WHEN shaped THEN {_signed('net_amt')} END AS net,
                   txn_type IN {_REFUND} AS is_refund,
                   try_strptime('{year:04d}' || trace_time, '%Y%m%d%H%M%S') AS this_year
            FROM s),
        t AS (
            SELECT *, CASE WHEN this_year < $latest THEN this_year
                           ELSE CASE WHEN try_strptime('{year - 1:04d}' || trace_time, '%Y%m%d%H%M%S') < $latest
                                     THEN try_strptime('{year - 1:04d}' || trace_time, '%Y%m%d%H%M%S') END
                      END AS event_time
            FROM v)
        SELECT coalesce(shaped AND event_time IS NOT NULL AND order_id <> ''
                        AND (NOT is_refund OR orig_order_id <> '')
                        AND settle = (CASE WHEN is_refund THEN -amount_fen ELSE amount_fen END) + fee
                        AND (net IS NULL OR net = settle - coalesce(split, 0)), false) AS ok,
               CASE WHEN is_refund THEN 'refund' ELSE 'payment' END AS kind,
               CASE WHEN is_refund THEN orig_order_id ELSE order_id END AS out_trade_no,
               CASE WHEN is_refund THEN orig_qry_id ELSE query_id END AS transaction_id,
               CASE WHEN is_refund THEN order_id ELSE '' END AS out_refund_no,
               CASE WHEN is_refund THEN query_id ELSE '' END AS refund_id,
               amount_fen, -fee AS fee_fen, event_time
        FROM t"""


def normalised_select(table: str) -> str:
    """The normalised bill (:data:`.parsers.normalised.COLUMNS`) of a scanned ZM table (empty text as NULL)."""
    return f"""
        SELECT 'unionpay' AS channel, kind, nullif(out_trade_no, '') AS out_trade_no,
               nullif(transaction_id, '') AS transaction_id, nullif(out_refund_no, '') AS out_refund_no,
               nullif(refund_id, '') AS refund_id, CAST(amount_fen AS BIGINT) AS amount_fen,
               CAST(fee_fen AS BIGINT) AS fee_fen, 'CNY' AS currency,
               strftime(event_time - INTERVAL 8 HOUR, '%Y-%m-%dT%H:%M:%SZ') AS trade_time_utc,
               'SUCCESS' AS state, CAST(1 + rowid AS BIGINT) AS line_no
        FROM {table}"""


def scan_zm(path: Path, clearing_day: date, lines: int, normalised: Path, *, threads: int = 2,
            memory_limit: str = "768MB", into: duckdb.DuckDBPyConnection | None = None) -> ColumnarBill | None:
    """Read a ZM entry of ``lines`` lines (see the module docstring) into ``normalised``
    (Parquet) or, given ``into`` (the matcher's database), into its table :data:`SCANNED`. Returns None when
    the file is not one this path reads exactly: the caller then reads it with the Python reader."""
    if lines < 1:
        return None
    latest = clearing_day + timedelta(days=1)
    with ScanTarget(normalised, into, threads=threads, memory_limit=memory_limit) as target:
        db, table = target.db, target.table
        db.execute(f"DROP TABLE IF EXISTS {table}")
        try:
            db.execute(f"CREATE TABLE {table} AS {_select(clearing_day.year)}", {"path": str(path), "latest": latest})
            figures = db.execute(f"""
                SELECT count(*), coalesce(bool_and(ok), false), greatest(sum(abs(amount_fen)), sum(abs(fee_fen)))
                FROM {table}""").fetchone()
        except duckdb.Error:  # bytes DuckDB's reader refuses outright: the Python reader decides (the table goes)
            return None
        assert figures is not None
        count, ok, largest = figures
        if count != lines or not ok or (largest or 0) > TOTAL_LIMIT:  # past the limit: the Python reader says where
            return None
        select = target.publish(normalised_select(table))
    return ColumnarBill(rows=int(count), first_day=clearing_day, normalised=normalised, select=select)
