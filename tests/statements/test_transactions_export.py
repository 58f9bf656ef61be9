"""The transactions export's rows and files: which movements a span of Beijing days holds (paid payments by
their payment time, succeeded refunds by theirs, nothing pending or closed, the days cut at Beijing
midnight), keyset pages that lose and repeat nothing even when many rows share one instant, fees as the
bill says or as booked (refunds giving back their cumulative proportional share, so a payment refunded in
parts returns exactly its fee), and the CSV and XLSX renderings with their totals and inert text."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
from openpyxl import load_workbook

from indiepay.core.errors import InvalidRequest
from indiepay.db.engine import Database
from indiepay.payments.models import Payment
from indiepay.refunds.models import Refund
from indiepay.statements import render, transactions
from indiepay.statements.transactions import Span, span_of
from tests.advisor.conftest import add_account, add_merchant, add_payment, add_refund

DAY = date(2026, 11, 20)
NOON = datetime(2026, 11, 20, 4, 0, tzinfo=UTC)  # 12:00 Beijing


def listed(db: Database, merchant_id: str = "mch_a", span: Span = Span(DAY, DAY),
           livemode: bool = True) -> list[transactions.Row]:
    return list(transactions.rows(db, merchant_id, livemode, span))


@pytest.fixture
def shop(db: Database) -> tuple[Database, str]:
    add_merchant(db, "mch_a")
    add_merchant(db, "mch_b")
    return db, add_account(db, "mch_a")


def test_a_span_holds_the_money_that_moved_on_its_beijing_days(shop: tuple[Database, str]) -> None:
    db, account = shop
    first = add_payment(db, "mch_a", account, 1_000, NOON)
    edge = add_payment(db, "mch_a", account, 2_000, datetime(2026, 11, 20, 15, 59, 59, tzinfo=UTC))  # 23:59:59
    add_payment(db, "mch_a", account, 3_000, datetime(2026, 11, 20, 16, 0, tzinfo=UTC))  # 00:00 the next day
    add_payment(db, "mch_a", account, 4_000, datetime(2026, 11, 19, 15, 59, 59, tzinfo=UTC))  # the day before
    add_payment(db, "mch_a", account, 5_000, NOON, status="pending")
    add_payment(db, "mch_a", account, 6_000, NOON, livemode=False)
    add_payment(db, "mch_b", add_account(db, "mch_b"), 7_000, NOON)
    add_refund(db, "mch_a", first, 400, NOON + timedelta(hours=1))
    add_refund(db, "mch_a", first, 100, NOON + timedelta(hours=2), status="processing")
    rows = listed(db)
    assert [(row.kind, row.amount) for row in rows] == [("payment", 1_000), ("refund", -400), ("payment", 2_000)]
    assert rows[2].id == edge and rows[1].out_trade_no == first
    assert [row.amount for row in listed(db, livemode=False)] == [6_000]
    assert [row.amount for row in listed(db, span=Span(DAY, DAY + timedelta(days=1)))] == [1_000, -400, 2_000,
                                                                                          3_000]


def test_pages_lose_and_repeat_nothing_when_rows_share_an_instant(shop: tuple[Database, str],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    db, account = shop
    made = sorted(add_payment(db, "mch_a", account, 100 + n, NOON) for n in range(7))
    later = add_payment(db, "mch_a", account, 999, NOON + timedelta(seconds=1))
    for payment_id in made[:5]:
        add_refund(db, "mch_a", payment_id, 10, NOON + timedelta(seconds=2))
    monkeypatch.setattr(transactions, "PAGE", 2)
    rows = listed(db)
    assert [row.id for row in rows if row.kind == "payment"] == [*made, later]
    refund_ids = [row.id for row in rows if row.kind == "refund"]
    assert len(refund_ids) == len(set(refund_ids)) == 5 and refund_ids == sorted(refund_ids)
    assert [row.at for row in rows] == sorted(row.at for row in rows)


def test_fees_come_from_the_bill_or_as_booked_and_refunds_give_back_their_share(
        shop: tuple[Database, str]) -> None:
    db, account = shop
    booked = add_payment(db, "mch_a", account, 1_000, NOON)  # 0.6 % channel: 6 fen; platform 0.4 %: 4 fen
    billed = add_payment(db, "mch_a", account, 10_000, NOON + timedelta(minutes=1))
    with db.transaction() as session:
        for payment_id, platform_bps in ((booked, 40), (billed, 0)):
            payment = session.get(Payment, payment_id)
            assert payment is not None
            payment.platform_fee_bps = platform_bps
        billed_payment = session.get(Payment, billed)
        assert billed_payment is not None
        billed_payment.channel_fee = 55  # what the bill said
    for n, part in enumerate((333, 333, 334)):
        add_refund(db, "mch_a", booked, part, NOON + timedelta(hours=1, minutes=n))
    add_refund(db, "mch_a", billed, 10_000, NOON + timedelta(hours=2))
    with db.transaction() as session:
        for refund in session.query(Refund).filter(Refund.payment_id == billed):
            refund.channel_fee_returned = 55
    rows = listed(db)
    by_payment = [row for row in rows if row.out_trade_no == booked]
    assert [(row.amount, row.channel_fee, row.platform_fee, row.fee_source) for row in by_payment] == [
        (1_000, -6, -4, "booked"), (-333, 2, 1, "booked"), (-333, 2, 2, "booked"), (-334, 2, 1, "booked")]
    assert sum(row.net for row in by_payment) == 0  # refunded in full: every fee came back
    assert [(row.amount, row.channel_fee, row.fee_source) for row in rows if row.out_trade_no == billed] == [
        (10_000, -55, "bill"), (-10_000, 55, "bill")]


@pytest.mark.parametrize("first,last,code", [
    ("2026-11-31", "2026-12-01", "invalid_date"), ("yesterday", "2026-11-20", "invalid_date"),
    ("2026-11-21", "2026-11-20", "invalid_span"), ("2026-11-20", "2026-11-26", "invalid_span"),
    ("2025-11-20", "2026-11-21", "invalid_span"),
])
def test_a_span_that_is_not_one_is_refused(first: str, last: str, code: str) -> None:
    with pytest.raises(InvalidRequest) as refused:
        span_of(first, last, today=date(2026, 11, 25))
    assert refused.value.code == code
    assert span_of("2025-11-26", "2026-11-25", today=date(2026, 11, 25)) == Span(date(2025, 11, 26),
                                                                                 date(2026, 11, 25))


def test_the_csv_and_the_workbook_hold_the_same_rows_and_totals(shop: tuple[Database, str]) -> None:
    db, account = shop
    paid = add_payment(db, "mch_a", account, 12_345, NOON)
    with db.transaction() as session:
        payment = session.get(Payment, paid)
        assert payment is not None
        payment.description = "=HYPERLINK(\"http://evil\")"
    add_refund(db, "mch_a", paid, 2_345, NOON + timedelta(hours=1))
    raw = b"".join(render.transactions_csv(listed(db), flush_every=1))
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert table[0] == list(transactions.HEADER) and len(table) == 4
    assert table[1][0] == "2026-11-20 12:00:00" and table[1][1] == "payment" and table[1][9] == "123.45"
    assert table[1][14] == "'=HYPERLINK(\"http://evil\")"  # inert in a spreadsheet
    assert table[2][1] == "refund" and table[2][9] == "-23.45"
    assert table[3][0] == "合计 Total" and table[3][1] == "1 payment, 1 refund" and table[3][9] == "100.00"
    assert table[3][12] == f"{(12_345 - 2_345 - 74 + 14) / 100:.2f}"  # fees: 74 charged, 14 given back
    out = io.BytesIO()
    render.transactions_xlsx(listed(db), out)
    sheet = load_workbook(io.BytesIO(out.getvalue())).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert [str(v) for v in values[0]] == list(transactions.HEADER)
    assert float(values[1][9]) == 123.45 and float(values[3][12]) == float(table[3][12])  # type: ignore[arg-type]
    assert values[1][14] == table[1][14]
