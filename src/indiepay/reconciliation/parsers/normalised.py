"""One flat, channel-neutral CSV of bill rows, for the columnar matcher (DuckDB / Polars) to load.

Each channel's rows carry different columns, signs and time semantics; the matcher should not know
them. Every payment or refund row becomes one line with fixed columns (:data:`COLUMNS`), UTF-8, ``\\n``
line ends, a header, empty text for "none":

* ``channel`` — ``wechatpay`` | ``alipay`` | ``unionpay``; ``kind`` — ``payment`` | ``refund``;
* ``out_trade_no``, ``transaction_id`` (微信订单号 / 支付宝交易号 / UnionPay's ``queryId`` of the payment),
  ``out_refund_no``, ``refund_id`` (WeChat Pay's refund id, UnionPay's ``queryId`` of the refund; Alipay's
  bill has none);
* ``amount_fen`` — positive, what the merchant asked for: the order amount (WeChat 订单金额, falling back
  to 应结订单金额; Alipay 订单金额) or the refund amount (WeChat 申请退款金额 / 退款金额; Alipay's negative
  订单金额 made positive);
* ``fee_fen`` — the channel's fee for the row, **positive when charged, negative when returned**: WeChat
  prints it so; Alipay's 服务费 is negated, on the assumption (unverified against a real Alipay bill)
  that Alipay prints a charge as a negative amount; UnionPay's ``商户手续费`` is a debit (charged) or a
  credit (returned);
* ``currency``; ``trade_time_utc`` — when the money moved (refund success time, Alipay 完成时间), as
  ``YYYY-MM-DDTHH:MM:SSZ``; ``state`` — the row's outcome (WeChat trade or refund status; Alipay and
  UnionPay rows are completed movements, ``SUCCESS``); ``line_no`` — the row's line in the original bill.

Writing streams: one row in, one line out. The rows' amounts and fees, added up regardless of sign, must stay
within :data:`TOTAL_LIMIT`: then every figure a run adds up from them fits the database's ``BIGINT``.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple, TextIO

from indiepay.reconciliation.errors import BillAmountError, BillEncodingError
from indiepay.reconciliation.parsers.alipay import AlipayBillRow
from indiepay.reconciliation.parsers.unionpay import UnionpayBillRow
from indiepay.reconciliation.parsers.wechat_trade import WechatTradeRow

ChannelRow = WechatTradeRow | AlipayBillRow | UnionpayBillRow

COLUMNS = ("channel", "kind", "out_trade_no", "transaction_id", "out_refund_no", "refund_id", "amount_fen",
           "fee_fen", "currency", "trade_time_utc", "state", "line_no")
_TIME = "%Y-%m-%dT%H:%M:%SZ"  # what isoformat() prints for a whole-second UTC time, with Z for +00:00
TOTAL_LIMIT = 2**63 - 1
"""The most fen a bill's amounts (and, apart, its fees) may add up to, each taken without its sign: a run's
figures (payments less refunds, matched amounts, fees) are sums over some of its rows, stored as ``BIGINT``.
Each amount is capped (:data:`.common.AMOUNT_DIGITS`), and a bill's printed totals bound the sums of most —
but not rows that cancel out (a payment and a revoked one of minus the same amount), nor a file without totals."""


class NormalisedRow(NamedTuple):
    """One line of the normalised CSV (field order = :data:`COLUMNS`); a tuple, cheap to build per row."""

    channel: str
    kind: str
    out_trade_no: str
    transaction_id: str
    out_refund_no: str
    refund_id: str
    amount_fen: int
    fee_fen: int
    currency: str
    trade_time_utc: datetime
    state: str
    line_no: int


def normalise_wechat(row: WechatTradeRow) -> NormalisedRow:
    """A WeChat Pay trade-bill row in the neutral shape (see the module docstring)."""
    refund = row.kind == "refund"
    return NormalisedRow(
        channel="wechatpay", kind=row.kind, out_trade_no=row.out_trade_no, transaction_id=row.transaction_id,
        out_refund_no=(row.out_refund_no or "") if refund else "", refund_id=(row.refund_id or "") if refund else "",
        amount_fen=row.amount_fen, fee_fen=row.fee_fen, currency=row.currency or "CNY",
        trade_time_utc=row.event_time.astimezone(UTC), state=row.state, line_no=row.line_no,
    )


def normalise_alipay(row: AlipayBillRow) -> NormalisedRow:
    """An Alipay detail row in the neutral shape (see the module docstring for the fee sign)."""
    refund = row.kind == "refund"
    return NormalisedRow(
        channel="alipay", kind=row.kind, out_trade_no=row.out_trade_no, transaction_id=row.trade_no,
        out_refund_no=row.refund_request_no if refund else "", refund_id="",
        amount_fen=abs(row.order_amount_fen), fee_fen=-row.service_fee_fen, currency="CNY",
        trade_time_utc=row.event_time.astimezone(UTC), state="SUCCESS", line_no=row.line_no,
    )


def normalise_unionpay(row: UnionpayBillRow) -> NormalisedRow:
    """A UnionPay ZM row in the neutral shape."""
    return NormalisedRow(
        channel="unionpay", kind=row.kind, out_trade_no=row.out_trade_no, transaction_id=row.orig_query_id
        if row.kind == "refund" else row.query_id, out_refund_no=row.out_refund_no,
        refund_id=row.query_id if row.kind == "refund" else "", amount_fen=row.amount_fen, fee_fen=row.fee_fen,
        currency="CNY", trade_time_utc=row.event_time.astimezone(UTC), state="SUCCESS", line_no=row.line_no,
    )


def normalise(row: ChannelRow) -> NormalisedRow:
    """Any channel's row in the neutral shape."""
    if isinstance(row, WechatTradeRow):
        return normalise_wechat(row)
    if isinstance(row, UnionpayBillRow):
        return normalise_unionpay(row)
    return normalise_alipay(row)


def write_normalised_csv(rows: Iterable[ChannelRow], out: TextIO) -> int:
    """Write the header and one line per row to ``out`` (opened with ``newline=""``), streaming.

    Returns:
        The number of rows written. Errors raised by a parser's row iterator (including the summary
        check at its end) propagate, so a caller must discard the output when this raises.

    Raises:
        BillEncodingError: a NUL in a field. BillAmountError: the amounts or the fees add up past
            :data:`TOTAL_LIMIT`.
    """
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    count = amounts = fees = 0
    for row in rows:
        n = normalise(row)
        cells = (*n[:9], n.trade_time_utc.isoformat().replace("+00:00", "Z"), n.state, n.line_no)
        if any(isinstance(cell, str) and "\x00" in cell for cell in cells):
            # no channel writes one; PostgreSQL could not store it in a difference (a server error)
            raise BillEncodingError(f"line {n.line_no}: a NUL character in a field")
        amounts += abs(n.amount_fen)
        fees += abs(n.fee_fen)
        if amounts > TOTAL_LIMIT or fees > TOTAL_LIMIT:
            raise BillAmountError(f"line {n.line_no}: the bill's {'amounts' if amounts > TOTAL_LIMIT else 'fees'} "
                                  f"add up to more than {TOTAL_LIMIT} fen", details={"line": n.line_no})
        writer.writerow(cells)
        count += 1
    return count


def read_normalised_csv(lines: Iterable[str]) -> Iterator[NormalisedRow]:
    """Read the normalised CSV back (for tests and for loaders without a CSV engine).

    Raises:
        ValueError: the header is not :data:`COLUMNS`.
    """
    reader = csv.reader(lines)
    if tuple(next(reader, ())) != COLUMNS:
        raise ValueError("not a normalised bill CSV")
    for fields in reader:
        yield NormalisedRow(
            channel=fields[0], kind=fields[1], out_trade_no=fields[2], transaction_id=fields[3],
            out_refund_no=fields[4], refund_id=fields[5], amount_fen=int(fields[6]), fee_fen=int(fields[7]),
            currency=fields[8], trade_time_utc=datetime.strptime(fields[9], _TIME).replace(tzinfo=UTC),
            state=fields[10], line_no=int(fields[11]),
        )
