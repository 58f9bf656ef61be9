"""The profit-sharing rules without HTTP: the transaction's book, settlement of documents, and the
background settlement task (which, like the refunds', waits again when its timer fires early)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from indiepay.sandbox.wechatpay import profitsharing as ps
from indiepay.sandbox.wechatpay import profitsharing_settle
from indiepay.sandbox.wechatpay.config import PROFITSHARING_SETTLE_SECONDS, WechatSandboxConfig
from indiepay.sandbox.wechatpay.profitsharing_amounts import Book, finish_sharing, returnable
from indiepay.sandbox.wechatpay.protocol import GatewayError
from indiepay.sandbox.wechatpay.state import SandboxState
from indiepay.sandbox.wechatpay.store import SandboxStore

NOW = datetime(2024, 5, 1, 4, 0, tzinfo=UTC)
ORDER = {"mchid": "1900000001", "out_trade_no": "T1", "transaction_id": "4200000001", "total": 1000,
         "trade_state": "SUCCESS", "profit_sharing": True}


def _sharing(lines: list[tuple[str, str, int, str]], *, unfreeze: bool = False, out_order_no: str = "S1",
             settle_after: float = -1) -> dict[str, Any]:
    entries = []
    for kind, account, amount, result in lines:
        entry = ps.new_entry(kind, account, amount, "分账", NOW, unfreeze=account == "1900000001")
        entry["result"] = result
        entries.append(entry)
    return ps.new_sharing({"mchid": "1900000001"}, "4200000001", out_order_no, entries, unfreeze=unfreeze,
                          settle_after=settle_after, now=NOW)


def _code(error: pytest.ExceptionInfo[GatewayError]) -> tuple[int, str, str]:
    return error.value.status, error.value.code, error.value.message


def test_book_counts_live_lines_refunds_and_successful_returns() -> None:
    sharings = [_sharing([("MERCHANT_ID", "1900000002", 100, "SUCCESS"), ("PERSONAL_OPENID", "o1", 50, "CLOSED"),
                          ("PERSONAL_OPENID", "o2", 20, "PENDING")])]
    refunds = [{"refund": 300, "status": "SUCCESS"}, {"refund": 10, "status": "PROCESSING"},
               {"refund": 99, "status": "CLOSED"}]
    returns = [{"amount": 30, "result": "SUCCESS"}, {"amount": 5, "result": "PROCESSING"}]
    book = Book.of(ORDER, refunds, sharings, returns)
    assert (book.refunded, book.shared, book.returned, book.finished) == (310, 120, 30, False)
    assert book.frozen == book.unsplit == 1000 - 310 - 120 + 30
    assert book.share_cap == 300 - 120
    book.check_share(180)
    with pytest.raises(GatewayError) as exc:
        book.check_share(181)
    assert _code(exc) == (400, "INVALID_REQUEST", "分账金额超出最大分账比例")
    book.check_refund(600)
    with pytest.raises(GatewayError) as exc:
        book.check_refund(601)
    assert _code(exc) == (403, "NOT_ENOUGH", "可退款金额不足，请先分账回退")


def test_book_finished_and_orders_not_opened_for_sharing() -> None:
    unfrozen = [_sharing([("MERCHANT_ID", "1900000002", 100, "SUCCESS"), ("MERCHANT_ID", "1900000001", 900,
                                                                           "SUCCESS")], unfreeze=True)]
    book = Book.of(ORDER, [], unfrozen, [])
    assert (book.shared, book.frozen, book.unsplit) == (100, 900, 0)  # the unfreeze line is not shared money
    with pytest.raises(GatewayError) as exc:
        book.check_share(0)
    assert _code(exc) == (400, "INVALID_REQUEST", "分账已完结")
    book.check_refund(900)

    legacy = {k: v for k, v in ORDER.items() if k != "profit_sharing"}  # stored before the field existed
    plain = Book.of(legacy, [{"refund": 100, "status": "SUCCESS"}], [], [])
    assert plain.unsplit == 0 and not plain.profit_sharing
    plain.check_refund(10_000)  # the usual refund rule applies elsewhere; sharing adds nothing
    with pytest.raises(GatewayError) as exc:
        plain.check_share(1)
    assert _code(exc) == (400, "INVALID_REQUEST", "该笔订单不支持分账")

    refunded = Book.of(ORDER, [{"refund": 950, "status": "SUCCESS"}], [], [])
    with pytest.raises(GatewayError) as exc:
        refunded.check_share(51)
    assert _code(exc) == (403, "NOT_ENOUGH", "分账金额不足")
    assert Book.of({**ORDER, "total": 99}, [], [], []).share_cap == 29  # floor(99 * 30 / 100)


def test_finish_sharing_and_returnable() -> None:
    doc = _sharing([("MERCHANT_ID", "1900000002", 100, "PENDING"), ("PERSONAL_OPENID", "o1", 50, "PENDING")])
    finish_sharing(doc, lambda kind, account: account == "1900000002", "", NOW)
    assert doc["state"] == "FINISHED" and doc["finish_time"] == "2024-05-01T12:00:00+08:00"
    assert [(line["result"], line["fail_reason"]) for line in doc["receivers"]] == [
        ("SUCCESS", None), ("CLOSED", "NO_RELATION")]
    assert "unfreeze" not in ps.sharing_view(doc)["receivers"][0]
    assert "fail_reason" not in ps.sharing_view(doc)["receivers"][0]
    returns = [{"out_order_no": "S1", "return_mchid": "1900000002", "amount": 30, "result": "SUCCESS"},
               {"out_order_no": "S1", "return_mchid": "1900000002", "amount": 20, "result": "PROCESSING"},
               {"out_order_no": "S1", "return_mchid": "1900000002", "amount": 40, "result": "FAILED"},
               {"out_order_no": "S2", "return_mchid": "1900000002", "amount": 99, "result": "SUCCESS"}]
    assert returnable(doc, "1900000002", returns) == 50
    assert returnable(doc, "1900000003", returns) is None

    knob = _sharing([("MERCHANT_ID", "1900000002", 100, "PENDING"), ("MERCHANT_ID", "1900000001", 0, "PENDING")])
    finish_sharing(knob, lambda *_: True, "ACCOUNT_ABNORMAL", NOW)
    assert [(line["result"], line["fail_reason"]) for line in knob["receivers"]] == [
        ("CLOSED", "ACCOUNT_ABNORMAL"), ("SUCCESS", None)]  # the merchant's own unfreeze line still succeeds


def test_an_early_timer_does_not_leave_a_sharing_order_processing(monkeypatch: pytest.MonkeyPatch) -> None:
    config = WechatSandboxConfig(time_factor=100)  # settles 50 ms after it was asked for
    state = SandboxState(config=config, store=SandboxStore(None))
    state.store.put_order(ORDER)
    state.store.add_token("4200000001", "1900000001", "T1")
    state.store.put_receiver({"mchid": "1900000001", "type": "PERSONAL_OPENID", "account": "o1"})
    doc = _sharing([("PERSONAL_OPENID", "o1", 100, "PENDING"), ("PERSONAL_OPENID", "o2", 10, "PENDING")],
                   unfreeze=True, settle_after=PROFITSHARING_SETTLE_SECONDS / config.time_factor)
    state.store.put_sharing(doc)
    real_sleep = asyncio.sleep
    wakeups: list[float] = []

    async def early_sleep(seconds: float) -> None:
        wakeups.append(seconds)
        await real_sleep(seconds / 3)

    monkeypatch.setattr(asyncio, "sleep", early_sleep)
    asyncio.run(profitsharing_settle.settle_later(state, "1900000001", "4200000001", out_order_no="S1"))
    done = state.store.get_sharing("1900000001", "S1")
    assert done is not None and done["state"] == "FINISHED" and len(wakeups) >= 2
    assert [(line["account"], line["amount"], line["result"]) for line in done["receivers"]] == [
        ("o1", 100, "SUCCESS"), ("o2", 10, "CLOSED"), ("1900000001", 900, "SUCCESS")]  # o2 was never declared
    assert done["receivers"][-1]["description"] == "解冻给分账方"
