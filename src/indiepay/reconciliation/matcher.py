"""The columnar matcher: one account's business day, bill against local records, classified in DuckDB.

A bill can hold a million rows and the account as many orders, so nothing here loops over rows in
Python. The inputs arrive as files or straight in its database — the normalised bill (the CSV the
parser streamed out, :mod:`.parsers.normalised`, or what :mod:`.columnar_bill` read into it) and the
local payments and refunds (:data:`LOCAL_COLUMNS`: the repository's CSV) — and DuckDB reads them,
deduplicates the bill, joins both sides with a full outer join on ``(kind, out_trade_no, out_refund_no)``
and classifies every pair with one ``CASE`` built from the rule set (:mod:`.rules`). Python only sees what
comes out: the differences (few), the figures, and the fee set, written to a Parquet file for the fee job.

Local rows carry ``day_offset`` (their business day minus the run's day: −1, 0, +1 inside the window,
±99 for a row found by number outside it) and ``near`` (−1 / +1 when within the rule's margin of the
day's start / end), decoded from the ``slot`` the database computed from UTC instants and the
Asia/Shanghai bounds (:data:`SLOTS`), so the server's ``TZ`` plays no part. DuckDB runs with a memory
limit and a spill directory, so a large day degrades to disk instead of exhausting memory.
"""

# ruff: noqa: S608 -- the SQL here is assembled from this module's constants and the rule set's class names
# only; file paths and every rule value are bound as parameters.

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from indiepay.reconciliation import rules as r
from indiepay.reconciliation.columnar_bill import SCANNED
from indiepay.reconciliation.fundflow import Figure, Totals
from indiepay.reconciliation.parsers.normalised import COLUMNS as BILL_COLUMNS

LOCAL_COLUMNS = ("kind", "out_trade_no", "out_refund_no", "object_id", "payment_id", "merchant_id", "mode",
                 "currency", "livemode", "amount", "status", "fee_bps", "channel_fee", "slot")
SLOTS = ((-99, 0), (-1, 0), (0, -1), (0, 0), (0, 1), (1, 0), (99, 0))
"""``(day_offset, near)`` by slot: before the previous day, the previous day, the day's first margin, the
day, its last margin, the next day, after the next day."""
_BILL_TYPES = {"channel": "VARCHAR", "kind": "VARCHAR", "out_trade_no": "VARCHAR", "transaction_id": "VARCHAR",
               "out_refund_no": "VARCHAR", "refund_id": "VARCHAR", "amount_fen": "BIGINT", "fee_fen": "BIGINT",
               "currency": "VARCHAR", "trade_time_utc": "VARCHAR", "state": "VARCHAR", "line_no": "BIGINT"}
LOCAL_TYPES = {"kind": "VARCHAR", "out_trade_no": "VARCHAR", "out_refund_no": "VARCHAR", "object_id": "VARCHAR",
                "payment_id": "VARCHAR", "merchant_id": "VARCHAR", "mode": "VARCHAR", "currency": "VARCHAR",
                "livemode": "INTEGER", "amount": "BIGINT", "status": "VARCHAR", "fee_bps": "BIGINT",
                "channel_fee": "BIGINT", "slot": "INTEGER"}
_DECODE = (f"* EXCLUDE (slot), {[offset for offset, _ in SLOTS]}[slot + 1] AS day_offset, "
           f"{[near for _, near in SLOTS]}[slot + 1] AS near")
KEY = ("kind", "out_trade_no", "out_refund_no")
FEE_SET_COLUMNS = ("id", "kind", "fee", "write", "fix", "merchant_id", "mode", "currency", "booked")
"""The fee set's columns (:meth:`Matcher.write_fee_set`): payment or refund id, ``payment`` | ``refund``, the
bill's fee (charged, or returned on a refund), whether to store it, whether to correct the ledger, and
what the ledger correction needs (``booked``: the payment's booked fee)."""


@dataclass(frozen=True)
class Figures:
    """What a run reports besides its differences (amounts in fen; refunds count negatively)."""

    bill_rows: int
    local_rows: int
    matched_count: int
    matched_amount: int
    bill_amount: int
    local_amount: int
    bill_fee: int
    booked_fee: int


@dataclass(frozen=True)
class Found:
    """One difference as the matcher classified it (before ids and resolution state are attached)."""

    klass: str
    kind: str
    out_trade_no: str
    out_refund_no: str
    object_id: str | None
    payment_id: str | None
    local_status: str | None
    local_amount: int | None
    channel_amount: int | None
    details: dict[str, Any]


def _columns(types: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in types.items()) + "}"


def _read_csv(types: dict[str, str]) -> str:
    """A ``read_csv`` of the file bound as ``$path``, with the column types fixed (never sniffed)."""
    return f"read_csv($path, header = true, delim = ',', quote = '\"', escape = '\"', columns = {_columns(types)})"


def _duplicated(table: str) -> str:
    """Keys present more than once in ``table`` (rare: a duplicated bill row, an order number reused).

    Folding only these, and passing every other row through, spares a million-row day a grouped
    aggregate of every column (with an ordered ``list``) or a sort of the whole table."""
    return f"SELECT kind, out_trade_no, out_refund_no FROM {table} GROUP BY ALL HAVING count(*) > 1"


def _same_key(left: str, right: str) -> str:
    """Key equality as ``GROUP BY`` sees it (a missing order number is one key, not unequal to itself)."""
    return " AND ".join(f"{left}.{c} IS NOT DISTINCT FROM {right}.{c}" for c in KEY)


LOCAL_CSV = "quote = '''', escape = '''', nullstr = ['NULL', '']"
"""How the local CSV quotes (see :func:`.repository.export_local`): SQL-style, NULL as ``NULL`` or empty."""


def _bill_source(path: Path) -> str:
    """The normalised bill bound as ``$path``: Parquet when DuckDB read the bill, else the CSV."""
    return "read_parquet($path)" if path.suffix == ".parquet" else _read_csv(_BILL_TYPES)


def load_local_rows(db: duckdb.DuckDBPyConnection, source: str, params: dict[str, Any] | None = None, *,
                    append: bool = False) -> None:
    """Create (or append to) the matcher's ``local_raw`` from rows of :data:`LOCAL_COLUMNS` selected from
    ``source`` (a table function or a registered relation), cast to :data:`LOCAL_TYPES`."""
    casts = ", ".join(f"CAST({name} AS {kind}) AS {name}" for name, kind in LOCAL_TYPES.items())
    select = (f"SELECT {_DECODE} FROM (SELECT * REPLACE (coalesce(out_refund_no, '') AS out_refund_no) "
              f"FROM (SELECT {casts} FROM {source}))")
    db.execute(f"INSERT INTO local_raw BY NAME {select}" if append else f"CREATE TABLE local_raw AS {select}",
               params or {})


class Matcher:
    """One DuckDB database for one account-day; use as a context manager.

    Args:
        workdir: a private directory for DuckDB's spill files.
        rules: the rule set to classify with.
        memory_limit: DuckDB's memory cap (it spills to ``workdir`` beyond it).
    """

    def __init__(self, workdir: Path, rules: r.RuleSet = r.CURRENT, *, memory_limit: str = "768MB",
                 threads: int = 2) -> None:
        self.rules = rules
        self._db = duckdb.connect(":memory:")
        self._db.execute(f"SET memory_limit = '{memory_limit}'")
        self._db.execute(f"SET threads = {int(threads)}")
        self._db.execute("SET temp_directory = $dir", {"dir": str(workdir / "duckdb.tmp")})
        self._db.execute("SET preserve_insertion_order = false")
        self._db.execute("CREATE TABLE neighbours (kind VARCHAR, out_trade_no VARCHAR, out_refund_no VARCHAR, "
                         "day_offset INTEGER)")

    def __enter__(self) -> Matcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self._db.close()

    def _params(self) -> dict[str, Any]:
        rules = self.rules
        return {"done": list(rules.channel_done_states), "local_done": rules.local_done_status}

    def _scalar(self, sql: str, params: dict[str, Any] | None = None) -> int:
        row = self._db.execute(sql, params or {}).fetchone()
        return int(row[0] or 0) if row is not None else 0

    def load_bill(self, path: Path, select: str | None = None) -> int:
        """Load the normalised bill (CSV or Parquet, or ``select``: the query of :mod:`.columnar_bill` over
        the table it read the bill into here, dropped once loaded); duplicates are folded into one row per
        key (``n`` > 1)."""
        assert tuple(_BILL_TYPES) == BILL_COLUMNS
        self._db.execute(f"""
            CREATE TABLE bill AS
            SELECT kind, out_trade_no, coalesce(out_refund_no, '') AS out_refund_no, coalesce(transaction_id, '')
                   AS transaction_id, amount_fen, fee_fen, state, trade_time_utc, line_no
            FROM {f"({select})" if select else _bill_source(path)}""", {} if select else {"path": str(path)})
        if select:
            self._db.execute(f"DROP TABLE IF EXISTS {SCANNED}")
        self._db.execute(f"""
            CREATE TABLE b AS
            WITH dup AS ({_duplicated("bill")})
            SELECT kind, out_trade_no, out_refund_no, 1::BIGINT AS n, amount_fen AS amount, fee_fen AS fee, state,
                   transaction_id, trade_time_utc AS trade_time, line_no AS first_line, NULL::BIGINT[] AS lines
            FROM bill ANTI JOIN dup ON {_same_key("bill", "dup")}
            UNION ALL
            SELECT kind, out_trade_no, out_refund_no, count(*), arg_min(amount_fen, line_no), arg_min(fee_fen, line_no),
                   arg_min(state, line_no), arg_min(transaction_id, line_no), arg_min(trade_time_utc, line_no),
                   min(line_no), list(line_no ORDER BY line_no)
            FROM bill SEMI JOIN dup ON {_same_key("bill", "dup")} GROUP BY kind, out_trade_no, out_refund_no""")
        return self._scalar("SELECT count(*) FROM bill")

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A connection of its own to this matcher's database: the thread that exports the local rows loads
        them through it (:meth:`load_local`) while this one reads the bill."""
        return self._db.cursor()

    def load_local(self, path: Path, *, via: duckdb.DuckDBPyConnection | None = None) -> None:
        """Load the local rows of the window from the CSV of :func:`.repository.export_local` (see
        :data:`LOCAL_COLUMNS`), through ``via`` (a :meth:`cursor`) when given."""
        load_local_rows(via or self._db, f"read_csv($path, header = true, delim = ',', {LOCAL_CSV}, "
                                          f"columns = {_columns(LOCAL_TYPES)})", {"path": str(path)})

    def add_local(self, rows: Sequence[Sequence[Any]]) -> None:
        """Add local rows found by number (outside the window) for bill rows the window did not explain."""
        if rows:
            columns = ", ".join(f"{name} {kind}" for name, kind in LOCAL_TYPES.items())
            marks = ", ".join("?" for _ in LOCAL_COLUMNS)
            self._db.execute(f"CREATE TEMP TABLE found ({columns})")
            self._db.executemany(f"INSERT INTO found VALUES ({marks})", [list(row) for row in rows])
            self._db.execute(f"INSERT INTO local_raw BY NAME SELECT {_DECODE} FROM found")
            self._db.execute("DROP TABLE found")

    def unexplained_bill_keys(self) -> list[tuple[str, str, str]]:
        """Bill keys with no local row in the window (usually few): the caller looks them up by number."""
        rows = self._db.execute("""
            SELECT b.kind, b.out_trade_no, b.out_refund_no FROM b
            ANTI JOIN local_raw l USING (kind, out_trade_no, out_refund_no)
            ORDER BY 1, 2, 3""").fetchall()
        return [(str(k), str(o), str(f)) for k, o, f in rows]

    def local_only_count(self) -> int:
        """Succeeded local rows of the day that the day's bill lacks (they need the neighbours' bills)."""
        return self._scalar("""
            SELECT count(*) FROM local_raw l ANTI JOIN b USING (kind, out_trade_no, out_refund_no)
            WHERE l.day_offset = 0 AND l.status = $local_done""", {"local_done": self.rules.local_done_status})

    def load_neighbour(self, path: Path, day_offset: int) -> None:
        """Add the keys of a neighbouring day's stored bill (its normalised CSV)."""
        self._db.execute(f"""
            INSERT INTO neighbours SELECT DISTINCT kind, out_trade_no, coalesce(out_refund_no, ''), $offset
            FROM {_bill_source(path)}""", {"path": str(path), "offset": int(day_offset)})

    def classify(self, *, missing_neighbours: Sequence[int], within_grace: bool) -> Figures:
        """Join and classify. ``missing_neighbours`` are the day offsets (−1, +1) whose bill is not stored
        yet; ``within_grace`` says whether the day is still inside the rule's grace window."""
        rules = self.rules
        conditions = {
            r.DUPLICATE_IN_BILL: "in_bill AND n > 1",
            r.STATUS_MISMATCH: "in_bill AND in_local AND b_done <> l_done",
            r.AMOUNT_MISMATCH: "in_bill AND in_local AND b_done AND l_done AND b_amount <> l_amount",
            r.FEE_MISMATCH: ("in_bill AND in_local AND b_done AND l_done AND kind = 'payment' "
                             "AND abs(b_fee - booked) > $tolerance"),
        }
        cases = " ".join(f"WHEN {conditions[klass]} THEN '{klass}'" for klass in rules.precedence)
        self._db.execute(f"CREATE TEMP TABLE local_dup AS {_duplicated('local_raw')}")
        if not self._scalar("SELECT count(*) FROM local_dup"):
            self._db.execute("CREATE VIEW l AS SELECT * FROM local_raw")  # the common case: nothing to fold
        else:
            self._db.execute(f"""
                CREATE TABLE l AS
                SELECT * FROM local_raw ANTI JOIN local_dup dup ON {_same_key("local_raw", "dup")}
                UNION ALL
                (SELECT * FROM local_raw SEMI JOIN local_dup dup ON {_same_key("local_raw", "dup")}
                 QUALIFY row_number() OVER (PARTITION BY kind, out_trade_no, out_refund_no
                                            ORDER BY abs(day_offset), object_id) = 1)""")
        self._db.execute(f"""
            CREATE TABLE j AS
            WITH joined AS (
                SELECT coalesce(b.kind, l.kind) AS kind, coalesce(b.out_trade_no, l.out_trade_no) AS out_trade_no,
                       coalesce(b.out_refund_no, l.out_refund_no) AS out_refund_no,
                       b.kind IS NOT NULL AS in_bill, l.kind IS NOT NULL AS in_local,
                       b.n, b.amount AS b_amount, b.fee AS b_fee, b.state AS b_state, b.lines, b.first_line,
                       b.trade_time, b.transaction_id, coalesce(list_contains($done, b.state), false) AS b_done,
                       l.object_id, l.payment_id, l.merchant_id, l.mode, l.currency, l.livemode,
                       l.amount AS l_amount, l.status AS l_status, coalesce(l.status = $local_done, false) AS l_done,
                       l.day_offset, l.near, l.channel_fee,
                       least((2 * l.amount * l.fee_bps + 10000) // 20000, l.amount) AS booked
                FROM b FULL OUTER JOIN l ON b.kind = l.kind AND b.out_trade_no = l.out_trade_no
                                        AND b.out_refund_no = l.out_refund_no
                WHERE b.kind IS NOT NULL OR l.day_offset = 0)
            SELECT *, CASE {cases}
                WHEN in_bill AND NOT in_local THEN '{r.MISSING_LOCALLY}'
                WHEN NOT in_bill AND l_done AND NOT EXISTS (
                    SELECT 1 FROM neighbours x WHERE x.kind = joined.kind AND x.out_trade_no = joined.out_trade_no
                    AND x.out_refund_no = joined.out_refund_no) THEN
                    CASE WHEN $within_grace AND list_contains($held, near) THEN '{r.CROSS_DAY}'
                         ELSE '{r.MISSING_IN_CHANNEL}' END
                END AS klass
            FROM joined""", {**self._params(), "tolerance": int(rules.fee_tolerance_fen), "within_grace": within_grace,
                             "held": [int(side) for side in missing_neighbours]})
        return self._figures()

    def _figures(self) -> Figures:
        signed = "CASE WHEN kind = 'refund' THEN -{0} ELSE {0} END"
        bill = self._db.execute(f"""
            SELECT count(*), coalesce(sum(CASE WHEN list_contains($done, state) THEN {signed.format('amount_fen')}
                                          END), 0), coalesce(sum(fee_fen), 0) FROM bill""",
                                {"done": self._params()["done"]}).fetchone()
        local = self._db.execute(f"""
            SELECT count(*), coalesce(sum(CASE WHEN status = $local_done THEN {signed.format('amount')} END), 0)
            FROM l WHERE day_offset = 0""", {"local_done": self.rules.local_done_status}).fetchone()
        matched = self._db.execute(f"""
            SELECT count(*), coalesce(sum({signed.format('b_amount')}), 0),
                   coalesce(sum(CASE WHEN kind = 'payment' THEN booked END), 0)
            FROM j WHERE {self._matched()}""").fetchone()
        assert bill is not None and local is not None and matched is not None
        return Figures(bill_rows=int(bill[0]), local_rows=int(local[0]), matched_count=int(matched[0]),
                       matched_amount=int(matched[1]), bill_amount=int(bill[1]), local_amount=int(local[1]),
                       bill_fee=int(bill[2]), booked_fee=int(matched[2]))

    def trade_totals(self, *, settled: int | None = None, refunded: int | None = None) -> Totals:
        """The bill's side of the fund-flow check (:mod:`.fundflow`): per kind, the rows whose money moved,
        their amount and their non-zero fees (charged on payments, returned on refunds), in one pass over the
        loaded bill. ``settled`` / ``refunded`` (the summary's 应结订单总金额 / 退款总金额, what the account
        received and paid back) replace the amounts the matcher matches on (what the merchant asked for)
        when the bill prints them."""
        rows = dict.fromkeys(("payment", "refund"), (0, 0, 0, 0))
        for kind, count, amount, fees, fee in self._db.execute("""
                SELECT kind, count(*), coalesce(sum(amount_fen), 0), count(*) FILTER (WHERE fee_fen <> 0),
                       coalesce(sum(CASE WHEN kind = 'refund' THEN -fee_fen ELSE fee_fen END), 0)
                FROM bill WHERE list_contains($done, state) GROUP BY kind""",
                {"done": self._params()["done"]}).fetchall():
            rows[str(kind)] = (int(count), int(amount), int(fees), int(fee))
        (paid, paid_amount, charged, charged_fee), (back, back_amount, returned, returned_fee) = (
            rows["payment"], rows["refund"])
        return Totals(payments=Figure(paid, paid_amount if settled is None else settled),
                      refunds=Figure(back, back_amount if refunded is None else refunded),
                      fees_charged=Figure(charged, charged_fee), fees_returned=Figure(returned, returned_fee))

    @staticmethod
    def _matched() -> str:
        return (f"in_bill AND in_local AND b_done AND l_done AND b_amount = l_amount AND n = 1 "
                f"AND (klass IS NULL OR klass = '{r.FEE_MISMATCH}')")

    def differences(self) -> list[Found]:
        """Every difference found, in a stable order (class, order number, refund number)."""
        rows = self._db.execute("""
            SELECT klass, kind, out_trade_no, out_refund_no, object_id, payment_id, l_status, l_amount, b_amount,
                   n, coalesce(lines, [first_line]), b_state, b_fee, booked, day_offset, trade_time, transaction_id
            FROM j WHERE klass IS NOT NULL ORDER BY klass, out_trade_no, out_refund_no""").fetchall()
        found = []
        for (klass, kind, otn, orn, object_id, payment_id, l_status, l_amount, b_amount, n, lines, b_state, b_fee,
             booked, day_offset, trade_time, transaction_id) in rows:
            details: dict[str, Any] = {}
            if b_state is not None:
                details.update(bill_state=b_state, bill_fee=b_fee, bill_lines=list(lines), bill_time=trade_time,
                               transaction_id=transaction_id or None)
                if n > 1:
                    details["bill_count"] = int(n)
            if l_status is not None:
                details.update(local_day_offset=day_offset)
                if kind == "payment":
                    details["booked_fee"] = booked
            found.append(Found(klass=klass, kind=kind, out_trade_no=otn, out_refund_no=orn,
                               object_id=object_id, payment_id=payment_id, local_status=l_status,
                               local_amount=l_amount, channel_amount=b_amount, details=details))
        return found

    def cross_matches(self) -> list[tuple[int, str, str]]:
        """``(day_offset, out_trade_no, out_refund_no)`` of bill rows matched to a local row of a neighbouring
        day: a ``cross_day`` difference held on that day is now explained."""
        rows = self._db.execute("""
            SELECT day_offset, out_trade_no, out_refund_no FROM j
            WHERE in_bill AND in_local AND day_offset <> 0 ORDER BY 1, 2, 3""").fetchall()
        return [(int(d), str(o), str(f)) for d, o, f in rows]

    def write_fee_set(self, path: Path) -> int:
        """Write the run's fee set to ``path`` as Parquet (:data:`FEE_SET_COLUMNS`), ordered by id; returns
        how many payments and refunds it holds.

        One row per matched payment whose stored ``channel_fee`` differs from the bill's (``write``) or,
        for a live payment, whose booked fee differs from a valid bill fee, 0..amount (``fix``: a ledger
        correction). One row per matched refund whose stored ``channel_fee_returned`` differs from the fee
        the bill returns (``write``); for a live refund with a valid returned fee, 0..amount, ``fix`` asks
        the job to compare it with what the ledger booked (the cumulative rounding of the refund's ledger
        entry is not derivable here; ``booked`` is NULL). A refund whose returned fee is written is done:
        its correction, if any, was posted in the same batch. The fee job (:mod:`.fees`) applies the set
        in batches after the run; DuckDB writes a million rows in about half a second, ~15 bytes a row."""
        fix = "livemode = 1 AND b_fee <> booked AND b_fee BETWEEN 0 AND b_amount"
        write = "channel_fee IS DISTINCT FROM b_fee"
        refund_write = "channel_fee IS DISTINCT FROM -b_fee"
        refund_fix = f"livemode = 1 AND -b_fee BETWEEN 0 AND b_amount AND {refund_write}"
        row = self._db.execute(f"""
            COPY (SELECT payment_id AS id, 'payment' AS kind, b_fee AS fee, {write} AS write,
                         coalesce({fix}, false) AS fix, merchant_id, mode, currency, booked
                  FROM j WHERE kind = 'payment' AND {self._matched()} AND ({write} OR coalesce({fix}, false))
                  UNION ALL
                  SELECT object_id, 'refund', -b_fee, true, coalesce({refund_fix}, false), merchant_id, mode,
                         currency, NULL::BIGINT
                  FROM j WHERE kind = 'refund' AND {self._matched()} AND {refund_write}
                  ORDER BY id)
            TO $path (FORMAT parquet, COMPRESSION zstd)""", {"path": str(path)}).fetchone()
        return int(row[0]) if row is not None else 0
