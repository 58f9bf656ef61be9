"""Refunds (退货): partial and repeated, limits, unknown originals, idempotent resends, processing → result,
the refund notify, and the ``refund_fail`` knob."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from tests.sandbox.unionpay.unionpay_sandbox_support import (
    BACK,
    Merchant,
    Sandbox,
    new_order_id,
    running_sandbox,
    wait_for,
)

from indiepay.sandbox.unionpay import UnionpaySandboxConfig


def _refund(merchant: Merchant, query_id: str, amount: int, order_id: str | None = None) -> dict[str, str]:
    fields = merchant.refund_fields(order_id or new_order_id(), query_id, amount)
    return {**merchant.call(BACK, fields), "_txnTime": fields["txnTime"]}


def _settled(merchant: Merchant, refund: dict[str, str]) -> dict[str, str]:
    def ended() -> dict[str, str] | None:
        answer = merchant.query(refund["orderId"], refund["_txnTime"])
        return answer if answer["origRespCode"] != "05" else None

    result: dict[str, str] = wait_for(ended)
    return result


def test_partial_and_multiple_refunds_up_to_the_paid_amount(merchant: Merchant) -> None:
    order, query_id = merchant.paid_order(amount=1000)
    first = _refund(merchant, query_id, 300)
    assert first["respCode"] == "00" and re.fullmatch(r"\d{21}", first["queryId"]) and first["queryId"] != query_id
    assert (first["txnType"], first["txnSubType"], first["origQryId"]) == ("04", "00", query_id)
    second = _refund(merchant, query_id, 700)
    assert second["respCode"] == "00"
    over = _refund(merchant, query_id, 1)
    assert over["respCode"] == "33" and over["respMsg"].startswith("交易金额超限[")
    for refund, amount in ((first, "300"), (second, "700")):
        answer = _settled(merchant, refund)
        assert (answer["respCode"], answer["origRespCode"]) == ("00", "00")
        assert (answer["txnType"], answer["txnSubType"], answer["origQryId"]) == ("04", "00", query_id)
        assert (answer["txnAmt"], answer["queryId"]) == (amount, refund["queryId"])
    forms = [form for form, ok in merchant.notifies(count=3) if ok and form["txnType"] == "04"]
    assert sorted(f["txnAmt"] for f in forms) == ["300", "700"]
    assert {f["origQryId"] for f in forms} == {query_id}
    view = merchant.inspect(order["orderId"])
    assert view["order"]["refunded_fen"] == 1000
    assert [r["status"] for r in view["refunds"]] == ["succeeded", "succeeded"]
    assert {n["kind"] for n in view["notifies"]} == {"qr", "refund"}


def test_over_limit_in_one_go(merchant: Merchant) -> None:
    _, query_id = merchant.paid_order(amount=100)
    assert _refund(merchant, query_id, 101)["respCode"] == "33"
    assert _refund(merchant, query_id, 100)["respCode"] == "00"


def test_unknown_or_unpaid_original_is_35(merchant: Merchant, sandbox: Sandbox) -> None:
    assert _refund(merchant, "9" * 21, 1)["respCode"] == "35"
    other = sandbox.provision()
    _, foreign_query_id = other.paid_order()
    assert _refund(merchant, foreign_query_id, 1)["respCode"] == "35"  # another merchant's order
    _, query_id = merchant.paid_order()
    refund = _refund(merchant, query_id, 10)
    assert _refund(merchant, refund["queryId"], 1)["respCode"] == "35"  # a refund is not refundable


def test_identical_refund_resend_is_idempotent_and_reuse_is_duplicate(merchant: Merchant) -> None:
    _, query_id = merchant.paid_order(amount=100)
    fields = merchant.refund_fields(new_order_id(), query_id, 60)
    first = merchant.call(BACK, fields)
    again = merchant.call(BACK, fields)  # over the limit if it were a new refund: the first answer instead
    assert first["respCode"] == again["respCode"] == "00" and first["queryId"] == again["queryId"]
    assert merchant.call(BACK, {**fields, "txnAmt": "40"})["respCode"] == "12"
    order_fields = merchant.qr_fields(fields["orderId"], 60)  # the number is taken across transaction types
    assert merchant.call(BACK, order_fields)["respCode"] == "12"
    merchant.notifies(count=2)
    time.sleep(0.05)
    refunds = [form for form, _ in merchant.sandbox.receiver.notifies(merchant.mer_id) if form["txnType"] == "04"]
    assert len(refunds) == 1


def test_refund_fail_knob_ends_failed_without_notify_and_keeps_the_money(merchant: Merchant) -> None:
    order, query_id = merchant.paid_order(amount=100)
    merchant.faults(refund_fail=True)
    refund = _refund(merchant, query_id, 100)
    assert refund["respCode"] == "00"
    answer = _settled(merchant, refund)
    assert (answer["respCode"], answer["origRespCode"]) == ("00", "01")
    assert answer["origRespMsg"].startswith("交易失败[")
    merchant.faults(refund_fail=False)
    assert _refund(merchant, query_id, 100)["respCode"] == "00"  # the failed refund gave the money back
    view = wait_for(lambda: (got := merchant.inspect(order["orderId"])) and len(got["notifies"]) == 2 and got)
    assert [r["status"] for r in view["refunds"]] == ["failed", "succeeded"]
    assert [n["kind"] for n in view["notifies"]] == ["qr", "refund"]


@pytest.fixture(scope="module")
def slow_sandbox() -> Iterator[Sandbox]:
    """Refunds stay processing for 2 s / 2.5 = 0.8 s here, long enough to observe."""
    with running_sandbox(UnionpaySandboxConfig(time_factor=2.5)) as running:
        yield running


def test_refund_is_processing_before_it_succeeds(slow_sandbox: Sandbox) -> None:
    merchant = slow_sandbox.provision()
    _, query_id = merchant.paid_order(amount=100)
    refund = _refund(merchant, query_id, 100)
    processing = merchant.query(refund["orderId"], refund["_txnTime"])
    assert (processing["respCode"], processing["origRespCode"]) == ("00", "05")
    assert processing["origRespMsg"].startswith("交易已受理，请稍后查询交易结果[")
    assert _settled(merchant, refund)["origRespCode"] == "00"
    notified = [form for form, ok in merchant.notifies(count=2) if ok and form["txnType"] == "04"]
    assert notified[0]["queryId"] == refund["queryId"]
