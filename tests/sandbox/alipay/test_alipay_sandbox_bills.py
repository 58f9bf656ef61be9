"""The Alipay sandbox publishes its trade bill zip; the adapter fetches it; the existing parser reads it.

Own gateway instance (its business clock is moved here), real loopback HTTP, the merchant's real adapter.
"""

from __future__ import annotations

import hashlib
import secrets
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.sandbox.alipay.alipay_harness import MOUNT, Receiver, SandboxApp, provision, sandbox_parent
from tests.support.servers import serve_in_thread

from indiepay.channels.alipay import bills as channel_bills
from indiepay.channels.base import BillKindUnsupported, BillNotReady, RefundRequest, RetryableChannelError
from indiepay.reconciliation.parsers.alipay import AlipayBillRow, read_alipay_bill_zip
from indiepay.reconciliation.parsers.normalised import NormalisedRow, normalise
from indiepay.sandbox.alipay import AlipaySandboxConfig

SH = ZoneInfo("Asia/Shanghai")
DAY = date(2024, 5, 1)


def beijing(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SH)


NEXT_MORNING = beijing(DAY + timedelta(days=1), 9, 30)


@pytest.fixture(scope="module")
def own_base() -> Iterator[str]:
    with serve_in_thread(sandbox_parent(AlipaySandboxConfig(time_factor=1000))) as base:
        yield base + MOUNT


@pytest.fixture
def app(own_base: str, receiver_base: str, receiver: Receiver) -> SandboxApp:
    return provision(own_base, receiver_base, receiver)


def clock(app: SandboxApp, at: datetime) -> None:
    reply = app.http.post(f"{app.base}/_clock", json={"now": at.isoformat(), "frozen": True})
    assert reply.status_code == 200, reply.text


def pay(app: SandboxApp, amount: int) -> str:
    out_trade_no = f"A{secrets.token_hex(8)}"
    qr = app.adapter.prepay(app.prepay(out_trade_no, amount)).code_url
    assert app.http.post(f"{app.base}/_buyer/pay", json={"qr_code": qr}).status_code == 200
    return out_trade_no


def refund(app: SandboxApp, out_trade_no: str, amount: int, total: int) -> str:
    out_refund_no = f"R{secrets.token_hex(6)}"
    app.adapter.refund(RefundRequest(out_trade_no=out_trade_no, out_refund_no=out_refund_no, refund_amount=amount,
                                     total_amount=total, currency="CNY", reason=None, notify_url=app.notify_url))
    return out_refund_no


def bill_fault(app: SandboxApp, **fault: Any) -> None:
    reply = app.http.post(f"{app.base}/_faults", json={"app_id": app.app_id, "bill_fault": fault})
    assert reply.status_code == 200, reply.text


def rows_of(app: SandboxApp, day: date = DAY) -> list[AlipayBillRow]:
    rows, _, _ = read_alipay_bill_zip(app.adapter.fetch_bill("trade", day).content)
    return rows


def neutral(rows: list[AlipayBillRow]) -> Counter[NormalisedRow]:
    return Counter(normalise(row)._replace(line_no=0) for row in rows)


def test_round_trip(app: SandboxApp) -> None:
    clock(app, beijing(DAY - timedelta(days=1), 22))
    yesterday = pay(app, 800)
    clock(app, beijing(DAY, 0))
    first = pay(app, 1000)
    clock(app, beijing(DAY, 12, 30))
    second, tiny = pay(app, 2590), pay(app, 1)
    clock(app, beijing(DAY, 23, 59, 59))
    partial = refund(app, first, 300, 1000)
    full = refund(app, yesterday, 800, 800)
    clock(app, NEXT_MORNING)

    bill = app.adapter.fetch_bill("trade", DAY)
    assert (bill.channel, bill.kind, bill.bill_date) == ("alipay", "trade", DAY)
    assert bill.sha1 == hashlib.sha1(bill.content).hexdigest()
    rows, footer, summary = read_alipay_bill_zip(bill.content)
    seen = {(row.kind, row.out_trade_no, row.refund_request_no, row.order_amount_fen, row.service_fee)
            for row in rows}
    assert seen == {
        ("payment", first, "", 1000, Decimal("-0.06")),
        ("payment", second, "", 2590, Decimal("-0.16")),
        ("payment", tiny, "", 1, Decimal("0.00")),
        ("refund", first, partial, -300, Decimal("0.02")),
        ("refund", yesterday, full, -800, Decimal("0.05")),
    }
    assert (footer.trade_count, footer.trade_receipt_fen, footer.refund_count, footer.refund_receipt_fen) == \
        (3, 3591, 2, -1100)
    assert summary.total.service_fee == Decimal("-0.15")
    assert rows[0].out_trade_no == first and rows[0].finished_at == beijing(DAY, 0)
    assert app.adapter.fetch_bill("trade", DAY).content == bill.content
    assert [row.out_trade_no for row in rows_of(app, DAY - timedelta(days=1))] == [yesterday]


def test_not_ready_and_unsupported_kind(app: SandboxApp) -> None:
    clock(app, beijing(DAY, 10))
    pay(app, 100)
    for now in (beijing(DAY, 23, 59, 59), beijing(DAY + timedelta(days=1), 8, 59)):
        clock(app, now)
        with pytest.raises(BillNotReady) as not_ready:
            app.adapter.fetch_bill("trade", DAY)
        assert not_ready.value.channel_code == "isp.bill_not_exist"
    clock(app, beijing(DAY + timedelta(days=1), 9))
    assert len(rows_of(app)) == 1
    clock(app, beijing(DAY + timedelta(days=3), 9))
    assert rows_of(app, DAY + timedelta(days=1)) == []  # a quiet day has an empty bill
    with pytest.raises(BillKindUnsupported):
        app.adapter.fetch_bill("fundflow", DAY)


def test_expired_or_unknown_download_link_is_retryable(app: SandboxApp) -> None:
    with pytest.raises(RetryableChannelError):
        channel_bills.download(app.http, f"{app.base}/downloadBillFile.resource?token=nope")


def _day(app: SandboxApp) -> tuple[str, str, str]:
    clock(app, beijing(DAY, 9))
    first, second = pay(app, 1000), pay(app, 2000)
    out_refund_no = refund(app, second, 500, 2000)
    clock(app, NEXT_MORNING)
    return first, second, out_refund_no


@pytest.mark.parametrize("fault", ["drop_row", "duplicate_row", "change_amount"])
@pytest.mark.parametrize("on_refund", [False, True])
def test_row_knobs_change_exactly_one_row(app: SandboxApp, fault: str, on_refund: bool) -> None:
    _, second, out_refund_no = _day(app)
    clean = neutral(rows_of(app))
    target_args = {"out_refund_no": out_refund_no} if on_refund else {"out_trade_no": second}
    bill_fault(app, fault=fault, bill_date=DAY.isoformat(), amount_delta_fen=7, **target_args)
    corrupted = neutral(rows_of(app))
    kind = "refund" if on_refund else "payment"
    target = next(row for row in clean if row.out_trade_no == second and row.kind == kind)
    removed, added = clean - corrupted, corrupted - clean
    if fault == "drop_row":
        assert (removed, added) == ({target: 1}, {})
    elif fault == "duplicate_row":
        assert (removed, added) == ({}, {target: 1})
    else:
        assert (removed, added) == ({target: 1}, {target._replace(amount_fen=target.amount_fen + 7): 1})
    assert neutral(rows_of(app)) == clean


def test_shift_across_midnight(app: SandboxApp) -> None:
    first, second, _ = _day(app)
    bill_fault(app, fault="shift_across_midnight", bill_date=DAY.isoformat(), out_trade_no=first)
    assert {row.out_trade_no for row in rows_of(app) if row.kind == "payment"} == {second}
    clock(app, beijing(DAY + timedelta(days=2), 10))
    moved = rows_of(app, DAY + timedelta(days=1))
    assert [(row.out_trade_no, row.finished_at) for row in moved] == [(first, beijing(DAY + timedelta(days=1), 0))]
    applied = app.http.get(f"{app.base}/_faults", params={"app_id": app.app_id}).json()["bill_faults_applied"]
    assert applied[0]["target"] == [first, None]


def test_wrong_hash_and_bad_knobs_are_refused(app: SandboxApp) -> None:
    for fault in ({"fault": "wrong_hash"}, {"fault": "drop_row", "bill": "fundflow"}, {"fault": "nope"}):
        reply = app.http.post(f"{app.base}/_faults", json={"app_id": app.app_id, "bill_fault": fault})
        assert reply.status_code == 400, fault


def test_provisioning_and_download_links_name_the_mount_point(own_base: str, app: SandboxApp) -> None:
    assert app.http.post(f"{own_base}/_provision", json={}).json()["gateway_url"] == f"{own_base}/gateway.do"
