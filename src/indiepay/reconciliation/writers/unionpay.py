"""Write a UnionPay reconciliation archive in the real layout — the inverse of :mod:`..parsers.unionpay`.

For the sandbox gateway's ``fileTransfer.do`` and for tests. The zip holds the ZM entry (one fixed-width
line per row, CRLF) and an empty ZME entry, both named for the clearing day. Fields the platform does not
read are filled as a plain online-payment merchant's file would have them: card-not-present terminal type,
the acquirer's institution code, a QR order's ``txnSubType`` 07 / ``bizType`` 000000 (a refund's 00 / 000000),
empty split and instalment fields. The settlement and
net amounts are derived from the amount and fee, so a row is always self-consistent unless a test edits it.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterable
from datetime import date

from indiepay.core.clock import BUSINESS_TZ
from indiepay.reconciliation.parsers.unionpay import (
    CREDIT,
    DEBIT,
    LAYOUT,
    UnionpayBillRow,
    archive_name,
    entry_name,
)

ACQUIRER = "00000049999"
SENDER = "00000049998"
LINE_BREAK = b"\r\n"
_NUMERIC = frozenset({"trace_no", "trace_time", "txn_amt", "mer_cat_code", "term_type", "old_pay_type",
                      "pay_card_type", "txn_type", "txn_sub_type", "biz_type", "acc_type", "interact_mode"})
_WIDTH = dict(LAYOUT)


def signed(value: int) -> str:
    """An ``X+n12`` amount: C for a credit to the merchant, D for a debit."""
    return f"{CREDIT if value >= 0 else DEBIT}{abs(value):012d}"


def _field(name: str, value: str) -> bytes:
    """A field at its width. A value that does not fit is refused, never cut: a shortened order number
    would name another order."""
    width = _WIDTH[name]
    data = value.encode("gbk", errors="replace")
    if len(data) > width:
        raise ValueError(f"{name} {value!r} is wider than its {width} bytes in the ZM layout")
    if name in _NUMERIC and value:
        return data.rjust(width, b"0")
    return data.ljust(width, b" ")


def zm_line(row: UnionpayBillRow) -> bytes:
    """One ZM line (without its line break) for ``row``."""
    refund = row.kind == "refund"
    direction = -1 if refund else 1
    fee = -row.fee_fen  # signed from the merchant's side: a charged fee is a debit
    settle = direction * row.amount_fen + fee
    values = {
        "txn_code": "S56" if refund else "S22", "acq_ins_code": ACQUIRER, "send_ins_code": SENDER,
        "trace_no": row.trace_no, "trace_time": row.event_time.astimezone(BUSINESS_TZ).strftime("%m%d%H%M%S"),
        "card_no": row.card_no, "txn_amt": f"{row.amount_fen:012d}", "mer_cat_code": "5311", "term_type": "07",
        "query_id": row.query_id, "old_pay_type": "00", "order_id": row.out_refund_no if refund else row.out_trade_no,
        "pay_card_type": "01", "orig_trace_no": "", "orig_trace_time": "", "mer_fee": signed(fee),
        "settle_amt": signed(settle), "pay_type": "0002", "group_mer_id": "", "txn_type": row.txn_type,
        "txn_sub_type": "00" if refund else "07", "biz_type": "000000", "acc_type": "01",
        "bill_type": "", "bill_no": "", "interact_mode": "1", "orig_qry_id": row.orig_query_id if refund else "",
        "mer_id": row.mer_id, "split_type": "", "sub_mer_id": "", "sub_mer_abbr": "", "split_amt": "",
        "net_amt": signed(settle), "term_id": "", "mer_reserved": "", "discount_amt": "", "invoice_amt": "",
        "instalment_fee": "", "instalment_count": "", "txn_medium": "", "orig_order_id": row.out_trade_no if refund
        else "", "reserved": "",
    }
    return b" ".join(_field(name, values[name]) for name, _ in LAYOUT)


def render_zm(rows: Iterable[UnionpayBillRow]) -> bytes:
    return b"".join(zm_line(row) + LINE_BREAK for row in rows)


def render_unionpay_bill_zip(rows: Iterable[UnionpayBillRow], *, mer_id: str, clearing_day: date) -> bytes:
    """The archive ``fileTransfer.do`` delivers for one merchant and clearing day (see the module docstring)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in ((entry_name(mer_id, clearing_day), render_zm(rows)),
                           (entry_name(mer_id, clearing_day, errors=True), b"")):
            info = zipfile.ZipInfo(name, date_time=(clearing_day.year, clearing_day.month, clearing_day.day, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


__all__ = ["archive_name", "render_unionpay_bill_zip", "render_zm", "signed", "zm_line"]
