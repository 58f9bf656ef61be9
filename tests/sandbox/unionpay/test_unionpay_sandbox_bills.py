"""The UnionPay sandbox publishes its reconciliation file (``fileTransfer``, 76/01, on ``/filedownload/``):
98 until the clearing day's file exists, then a signed answer whose ``fileContent`` (base64, zlib, zip) the
platform's parser reads; the 23:00 clearing boundary; the bill fault knobs; request checks; restarts.

Own gateway instance (its business clock is moved here, frozen), real loopback HTTP, the minimal form
client of :mod:`unionpay_sandbox_support`, plus the platform's adapter once.
"""

from __future__ import annotations

import base64
import io
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import astuple, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from tests.sandbox.unionpay.unionpay_sandbox_support import (
    BACK,
    Merchant,
    Receiver,
    Sandbox,
    new_order_id,
    running_sandbox,
    wait_for,
)
from tests.support.servers import free_port

from indiepay.channels.base import BillNotReady
from indiepay.channels.unionpay import build_adapter
from indiepay.core.clock import SystemClock
from indiepay.reconciliation.parsers.unionpay import (
    UnionpayBillRow,
    archive_name,
    entry_name,
    open_unionpay_bill_zip,
    parse_unionpay_bill_zip,
)
from indiepay.sandbox.unionpay import UnionpaySandboxConfig

SH = ZoneInfo("Asia/Shanghai")
FILE = "/filedownload/"
DAY = date(2026, 3, 12)


def beijing(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=SH)


NEXT_MORNING = beijing(DAY + timedelta(days=1), 9, 30)


@pytest.fixture(scope="module")
def own() -> Iterator[Sandbox]:
    with running_sandbox(UnionpaySandboxConfig(time_factor=1000)) as running:
        yield running


@pytest.fixture
def merchant(own: Sandbox) -> Merchant:
    own.http.delete(own.base + "/_clock")  # certificates are issued on real time
    return own.provision()


def clock(merchant: Merchant, at: datetime) -> None:
    reply = merchant.sandbox.http.post(merchant.sandbox.base + "/_clock", json={"now": at.isoformat(), "frozen": True})
    assert reply.status_code == 200, reply.text


def pay(merchant: Merchant, amount: int) -> dict[str, str]:
    """A paid QR order, as the query reports it (orderId, queryId, traceNo, traceTime, accNo, txnAmt)."""
    order, _ = merchant.paid_order(amount)
    return merchant.query(order["orderId"], order["txnTime"])


def refund(merchant: Merchant, paid: dict[str, str], amount: int) -> dict[str, str]:
    """A refund of ``paid``, waited for until it ended; as the query reports it."""
    fields = merchant.refund_fields(new_order_id(), paid["queryId"], amount)
    assert merchant.call(BACK, fields)["respCode"] == "00"
    ended: dict[str, str] = wait_for(
        lambda: (a := merchant.query(fields["orderId"], fields["txnTime"]))["origRespCode"] != "05" and a)
    return ended


def file_fields(merchant: Merchant, day: date | str, **extra: str) -> dict[str, str]:
    settle = day if isinstance(day, str) else f"{day:%m%d}"
    return merchant.fields("76", "01", "000000", fileType="00", settleDate=settle, **extra)


def fetch(merchant: Merchant, day: date | str, path: str = FILE) -> dict[str, str]:
    """The verified answer (``call`` checks the chain and the gateway's signature)."""
    return merchant.call(path, file_fields(merchant, day))


def unpack(answer: dict[str, str]) -> bytes:
    packed = base64.b64decode(answer["fileContent"], validate=True)
    assert packed[:1] == b"\x78"  # a zlib stream with its header, as Java's Inflater expects
    return zlib.decompress(packed)


def rows_of(merchant: Merchant, day: date) -> list[UnionpayBillRow]:
    answer = fetch(merchant, day)
    assert answer["respCode"] == "00", answer
    return [replace(row, line_no=0) for row in parse_unionpay_bill_zip(unpack(answer))]


def payment_row(merchant: Merchant, paid: dict[str, str], at: datetime, fee: int) -> UnionpayBillRow:
    assert paid["traceTime"] == f"{at:%m%d%H%M%S}"  # the file books the traceTime the gateway reported
    amount = int(paid["txnAmt"])
    return UnionpayBillRow(kind="payment", txn_type="01", out_trade_no=paid["orderId"], out_refund_no="",
                           query_id=paid["queryId"], orig_query_id="", amount_fen=amount, fee_fen=fee,
                           settle_fen=amount - fee, event_time=at, mer_id=merchant.mer_id, trace_no=paid["traceNo"],
                           card_no=paid["accNo"])


def refund_row(merchant: Merchant, paid: dict[str, str], done: dict[str, str], at: datetime,
               returned: int) -> UnionpayBillRow:
    assert done["traceTime"] == f"{at:%m%d%H%M%S}" and done["origRespCode"] == "00"
    amount = int(done["txnAmt"])
    return UnionpayBillRow(kind="refund", txn_type="04", out_trade_no=paid["orderId"], out_refund_no=done["orderId"],
                           query_id=done["queryId"], orig_query_id=paid["queryId"], amount_fen=amount,
                           fee_fen=-returned, settle_fen=-(amount - returned), event_time=at, mer_id=merchant.mer_id,
                           trace_no=done["traceNo"], card_no=paid["accNo"])


def test_98_until_the_file_is_published(merchant: Merchant) -> None:
    clock(merchant, beijing(DAY, 10))
    pay(merchant, 100)
    for now, day in ((beijing(DAY, 22), DAY), (beijing(DAY, 23, 30), DAY + timedelta(days=1)),
                     (beijing(DAY + timedelta(days=1), 8, 59, 59), DAY)):
        clock(merchant, now)
        answer = fetch(merchant, day)  # signed and trusted like every answer
        assert answer["respCode"] == "98" and answer["respMsg"].startswith("文件不存在["), (now, answer)
        assert "fileContent" not in answer and answer["settleDate"] == f"{day:%m%d}"
    clock(merchant, beijing(DAY + timedelta(days=1), 9))
    assert fetch(merchant, DAY)["respCode"] == "00"


def test_the_file_holds_the_clearing_days_payments_and_succeeded_refunds(merchant: Merchant) -> None:
    earlier = DAY - timedelta(days=1)
    clock(merchant, beijing(earlier, 22, 30))
    before = pay(merchant, 500)
    clock(merchant, beijing(earlier, 23, 30))  # after 23:00: clearing day DAY
    late = pay(merchant, 1000)
    clock(merchant, beijing(DAY, 12))
    noon = pay(merchant, 2590)
    back_before, back_noon = refund(merchant, before, 200), refund(merchant, noon, 590)
    merchant.faults(refund_fail=True)
    assert refund(merchant, noon, 100)["origRespCode"] == "01"  # failed: not in the file
    merchant.faults(refund_fail=False)
    clock(merchant, beijing(DAY, 22, 59, 59))
    edge = pay(merchant, 1)
    clock(merchant, beijing(DAY, 23))
    following = pay(merchant, 300)
    clock(merchant, NEXT_MORNING)

    answer = fetch(merchant, DAY)
    assert answer["respCode"] == "00" and answer["respMsg"].startswith("成功[")
    assert (answer["fileName"], answer["settleDate"], answer["fileType"]) == \
        (archive_name(merchant.mer_id, DAY), f"{DAY:%m%d}", "00")
    content = unpack(answer)
    bill = open_unionpay_bill_zip(content)
    assert (bill.mer_id, bill.clearing_day, bill.entry_name) == (merchant.mer_id, DAY, entry_name(merchant.mer_id, DAY))
    noon_at = beijing(DAY, 12)
    assert [replace(row, line_no=0) for row in bill.rows()] == [
        payment_row(merchant, late, beijing(earlier, 23, 30), 6),
        payment_row(merchant, noon, noon_at, 16),  # 0.1554 yuan, half up
        refund_row(merchant, before, back_before, noon_at, 1),  # an order of the day before, refunded today
        refund_row(merchant, noon, back_noon, noon_at, 4),  # 3.54 fen returned, half up
        payment_row(merchant, edge, beijing(DAY, 22, 59, 59), 0),
    ]
    assert fetch(merchant, DAY)["fileContent"] == answer["fileContent"]  # the same bytes again
    assert rows_of(merchant, earlier) == [payment_row(merchant, before, beijing(earlier, 22, 30), 3)]
    clock(merchant, beijing(DAY + timedelta(days=2), 9))
    assert rows_of(merchant, DAY + timedelta(days=1)) == [payment_row(merchant, following, beijing(DAY, 23), 2)]


def test_which_day_settle_date_names(merchant: Merchant) -> None:
    clock(merchant, NEXT_MORNING)
    quiet = fetch(merchant, DAY)  # a day that ended without transactions: a file without rows
    with zipfile.ZipFile(io.BytesIO(unpack(quiet))) as archive:
        assert archive.namelist() == [entry_name(merchant.mer_id, DAY), entry_name(merchant.mer_id, DAY, errors=True)]
        assert archive.read(entry_name(merchant.mer_id, DAY)) == b""
    later = DAY + timedelta(days=10)  # not yet this year: the most recent one is a year ago
    assert fetch(merchant, later)["fileName"] == archive_name(merchant.mer_id, later.replace(year=DAY.year - 1))
    assert fetch(merchant, "0229")["fileName"] == archive_name(merchant.mer_id, date(2024, 2, 29))
    assert fetch(merchant, DAY, path=FILE.rstrip("/"))["respCode"] == "00"


def test_the_platforms_adapter_reads_the_file(merchant: Merchant) -> None:
    clock(merchant, beijing(DAY, 9))
    paid = pay(merchant, 1000)
    adapter = build_adapter(merchant.credentials, merchant.gateway_url, merchant.sandbox.http, SystemClock())
    with pytest.raises(BillNotReady):
        adapter.fetch_bill("trade", DAY)
    clock(merchant, NEXT_MORNING)
    bill = adapter.fetch_bill("trade", DAY)
    assert [row.out_trade_no for row in parse_unionpay_bill_zip(bill.content)] == [paid["orderId"]]


def _queue(merchant: Merchant, **fault: Any) -> httpx.Response:
    return merchant.sandbox.http.post(merchant.sandbox.base + "/_faults",
                                      json={"mer_id": merchant.mer_id, "bill_fault": fault})


def _view(merchant: Merchant) -> dict[str, Any]:
    data: dict[str, Any] = merchant.sandbox.http.get(merchant.sandbox.base + "/_faults",
                                                     params={"mer_id": merchant.mer_id}).json()
    return data


def _counted(rows: list[UnionpayBillRow]) -> Counter[tuple[Any, ...]]:
    return Counter(astuple(row) for row in rows)


def _day(merchant: Merchant) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    clock(merchant, beijing(DAY, 9))
    first, second = pay(merchant, 1000), pay(merchant, 2000)
    done = refund(merchant, second, 500)
    clock(merchant, NEXT_MORNING)
    return first, second, done


@pytest.mark.parametrize("fault", ["drop_row", "duplicate_row", "change_amount"])
@pytest.mark.parametrize("on_refund", [False, True])
def test_row_knobs_change_exactly_one_row_once(merchant: Merchant, fault: str, on_refund: bool) -> None:
    _, second, done = _day(merchant)
    clean = rows_of(merchant, DAY)
    target = {"out_refund_no": done["orderId"]} if on_refund else {"out_trade_no": second["orderId"]}
    assert _queue(merchant, fault=fault, bill_date=DAY.isoformat(), amount_delta_fen=7, **target).status_code == 200
    assert [f["fault"] for f in _view(merchant)["bill_faults"]] == [fault]
    corrupted = rows_of(merchant, DAY)
    row = next(r for r in clean if r.out_trade_no == second["orderId"] and (r.kind == "refund") == on_refund)
    removed, added = _counted(clean) - _counted(corrupted), _counted(corrupted) - _counted(clean)
    if fault == "drop_row":
        assert (removed, added) == (_counted([row]), Counter())
    elif fault == "duplicate_row":
        assert (removed, added) == (Counter(), _counted([row]))
    else:  # the amount moves, the fee stays as charged, the settlement follows
        moved = replace(row, amount_fen=row.amount_fen + 7, settle_fen=row.settle_fen + (-7 if on_refund else 7))
        assert (removed, added) == (_counted([row]), _counted([moved]))
    assert rows_of(merchant, DAY) == clean  # used up
    view = _view(merchant)
    assert view["bill_faults"] == [] and len(view["bill_faults_applied"]) == 1
    assert view["bill_faults_applied"][0]["target"] == [second["orderId"], done["orderId"] if on_refund else None]


@pytest.mark.parametrize("direction", ["next", "previous"])
def test_shift_moves_the_order_across_the_clearing_boundary(merchant: Merchant, direction: str) -> None:
    first, second, _ = _day(merchant)
    assert _queue(merchant, fault="shift_across_midnight", direction=direction,
                  out_trade_no=first["orderId"]).status_code == 200
    assert {row.out_trade_no for row in rows_of(merchant, DAY) if row.kind == "payment"} == {second["orderId"]}
    clock(merchant, beijing(DAY + timedelta(days=2), 10))
    neighbour, moved_to = ((DAY + timedelta(days=1), beijing(DAY, 23)) if direction == "next"
                           else (DAY - timedelta(days=1), beijing(DAY - timedelta(days=1), 22, 59, 59)))
    assert [(row.out_trade_no, row.event_time) for row in rows_of(merchant, neighbour)] == \
        [(first["orderId"], moved_to)]
    assert first["orderId"] not in {row.out_trade_no for row in rows_of(merchant, DAY)}  # the record moved
    [applied] = _view(merchant)["bill_faults_applied"]
    assert (applied["target"], datetime.fromisoformat(applied["moved_to"])) == ([first["orderId"], None], moved_to)
    reset = merchant.sandbox.http.delete(merchant.sandbox.base + "/_faults", params={"mer_id": merchant.mer_id})
    assert reset.json()["bill_faults_applied"] == [] == _view(merchant)["bill_faults_applied"]


def test_a_knob_for_another_day_waits(merchant: Merchant) -> None:
    _day(merchant)
    other = (DAY + timedelta(days=5)).isoformat()
    assert _queue(merchant, fault="drop_row", bill_date=other).status_code == 200
    assert len(rows_of(merchant, DAY)) == 3
    assert [f["bill_date"] for f in _view(merchant)["bill_faults"]] == [other]


@pytest.mark.parametrize("fault", [
    {"fault": "wrong_hash"}, {"fault": "drop_row", "bill": "fundflow"}, {"fault": "nope"},
    {"fault": "shift_across_midnight", "direction": "sideways"}, {"fault": "drop_row", "bill_date": "0312"},
    {"fault": "change_amount", "amount_delta_fen": 0}, {"fault": "drop_row", "extra": 1}, "drop_row",
])
def test_a_bad_knob_is_400(merchant: Merchant, fault: Any) -> None:
    reply = merchant.sandbox.http.post(merchant.sandbox.base + "/_faults",
                                       json={"mer_id": merchant.mer_id, "bill_fault": fault, "drop_callbacks": 2})
    assert (reply.status_code, reply.json()["error"]) == (400, "invalid_request")
    view = _view(merchant)
    assert (view["bill_faults"], view["drop_callbacks"]) == ([], 0)  # nothing of the request was applied


def test_forged_or_unsigned_requests_are_11(merchant: Merchant, own: Sandbox) -> None:
    clock(merchant, NEXT_MORNING)
    signed = merchant.sign(file_fields(merchant, DAY))
    assert merchant.call(FILE, {**signed, "settleDate": "0311"}, sign=False)["respCode"] == "11"
    assert merchant.call(FILE, {**signed, "signature": "AAAA"}, sign=False)["respCode"] == "11"
    other = own.provision()
    assert merchant.call(FILE, other.sign(file_fields(merchant, DAY)), sign=False)["respCode"] == "11"
    # no signature at all is a missing element, as for every other call
    assert merchant.call(FILE, file_fields(merchant, DAY), sign=False)["respCode"] == "13"


@pytest.mark.parametrize(("change", "code"), [
    ({"settleDate": "1332"}, "10"), ({"settleDate": "0230"}, "10"), ({"settleDate": "312"}, "10"),
    ({"settleDate": "03-1"}, "10"), ({"fileType": "01"}, "10"), ({"bizType": "000201"}, "10"),
    ({"txnSubType": "02"}, "10"), ({"txnTime": "20261301000000"}, "10"), ({"settleDate": ""}, "13"),
    ({"fileType": ""}, "13"), ({"txnTime": ""}, "13"),
])
def test_request_checks(merchant: Merchant, change: dict[str, str], code: str) -> None:
    fields = {k: v for k, v in {**file_fields(merchant, DAY), **change}.items() if v}
    answer = merchant.call(FILE, fields)
    assert answer["respCode"] == code, answer


def test_transactions_at_the_wrong_host_are_10(merchant: Merchant) -> None:
    assert merchant.call(BACK, file_fields(merchant, DAY))["respCode"] == "10"
    assert merchant.call(FILE, merchant.qr_fields(new_order_id(), 100))["respCode"] == "10"


def test_fail_with_500_and_hang_apply(merchant: Merchant) -> None:
    clock(merchant, NEXT_MORNING)
    merchant.faults(fail_with_500=1)
    assert merchant.post(FILE, file_fields(merchant, DAY)).status_code == 500
    assert fetch(merchant, DAY)["respCode"] == "00"
    merchant.faults(hang_seconds=0.5)
    with pytest.raises(httpx.TimeoutException):
        merchant.post(FILE, file_fields(merchant, DAY), timeout=0.1)
    merchant.faults(hang_seconds=0)


def test_files_and_queued_knobs_survive_a_restart(tmp_path: Path) -> None:
    state, port, receiver = str(tmp_path / "unionpay.db"), free_port(), Receiver()
    with running_sandbox(UnionpaySandboxConfig(state_path=state, time_factor=1000), receiver, port) as first:
        merchant = first.provision()
        _, second, done = _day(merchant)
        before = fetch(merchant, DAY)["fileContent"]
        assert _queue(merchant, fault="drop_row", out_refund_no=done["orderId"]).status_code == 200
    with running_sandbox(UnionpaySandboxConfig(state_path=state, time_factor=1000), receiver, port) as again:
        merchant.sandbox = again
        clock(merchant, NEXT_MORNING)  # the clock itself is not kept
        assert [f["out_refund_no"] for f in _view(merchant)["bill_faults"]] == [done["orderId"]]
        assert [row.kind for row in rows_of(merchant, DAY)] == ["payment", "payment"]
        assert fetch(merchant, DAY)["fileContent"] == before
        assert second["orderId"] in {row.out_trade_no for row in rows_of(merchant, DAY)}
