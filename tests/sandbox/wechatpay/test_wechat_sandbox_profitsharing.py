"""Profit sharing (分账) orders over real HTTP: PROCESSING → FINISHED, NO_RELATION and the close knob, the
30 % and NOT_ENOUGH limits, idempotent out_order_no, unfreeze (flag and endpoint), the unsplit amount,
refunds blocked by shared money, signed answers and the fault knobs, persistence, concurrency.

Receivers and encrypted names are in ``test_wechat_sandbox_profitsharing_receivers``, returns in
``…_returns``, the pure rules in ``…_rules``."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from fastapi import FastAPI
from tests.support.servers import serve_in_thread
from wechat_profitsharing_support import BEIJING, SharingSandbox, Shop, expect_error, no, provision
from wechat_sandbox_support import wait_for

from indiepay.sandbox.wechatpay import WechatSandboxConfig, create_wechatpay_sandbox


def _partner(shop: Shop, sandbox: SharingSandbox | None = None) -> str:
    """A declared MERCHANT_ID receiver (another sandbox merchant) of ``shop``."""
    other = sandbox.shop().mchid if sandbox else "1900009999"
    assert shop.add_receiver("MERCHANT_ID", other, name="合作方科技有限公司").status_code == 200
    return other


def _openid(shop: Shop) -> str:
    openid = "o" + no("U")
    assert shop.add_receiver("PERSONAL_OPENID", openid, relation="DISTRIBUTOR").status_code == 200
    return openid


def test_split_processing_then_finished(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    partner, openid = _partner(shop, sharing), _openid(shop)
    tid = shop.pay(1000)
    assert shop.unsplit(tid) == 1000
    created = shop.share(tid, "PS-1|a*b@c_d", [("MERCHANT_ID", partner, 100), ("PERSONAL_OPENID", openid, 50)])
    assert created.status_code == 200, created.text
    order = created.json()
    assert set(order) == {"transaction_id", "out_order_no", "order_id", "state", "receivers"}
    assert order["state"] == "PROCESSING" and order["transaction_id"] == tid and order["out_order_no"] == "PS-1|a*b@c_d"
    assert order["order_id"].isdigit() and len(order["order_id"]) >= 20
    lines = order["receivers"]
    assert [(r["type"], r["account"], r["amount"], r["result"]) for r in lines] == [
        ("MERCHANT_ID", partner, 100, "PENDING"), ("PERSONAL_OPENID", openid, 50, "PENDING")]
    assert all(r["detail_id"].isdigit() and BEIJING.match(r["create_time"]) and r["description"] == "分给合作方"
               and "finish_time" not in r for r in lines)
    assert lines[0]["detail_id"] != lines[1]["detail_id"]
    assert shop.unsplit(tid) == 850  # PENDING lines hold their money

    assert shop.query(tid, "PS-1|a*b@c_d").json()["state"] == "PROCESSING"  # not due yet
    advance()
    done = shop.query(tid, "PS-1|a*b@c_d").json()
    assert done["state"] == "FINISHED" and done["order_id"] == order["order_id"]
    assert [r["result"] for r in done["receivers"]] == ["SUCCESS", "SUCCESS"]
    assert all(BEIJING.match(r["finish_time"]) and "fail_reason" not in r for r in done["receivers"])
    assert [r["detail_id"] for r in done["receivers"]] == [r["detail_id"] for r in lines]
    assert shop.unsplit(tid) == 850


def test_background_task_settles_without_a_query() -> None:
    gateway = create_wechatpay_sandbox(WechatSandboxConfig(time_factor=1000))  # settles 5 ms after
    parent = FastAPI()
    parent.mount("/wechatpay", gateway)
    with serve_in_thread(parent) as url, httpx.Client(timeout=10) as http:
        shop = provision(http, f"{url}/wechatpay")
        partner = _partner(shop)
        tid = shop.pay(500)
        assert shop.share(tid, "BG1", [("MERCHANT_ID", partner, 150)]).json()["state"] == "PROCESSING"
        store = gateway.state.sandbox.store  # a query would settle it too: read the gateway's store instead
        done = wait_for(lambda: (doc := store.get_sharing(shop.mchid, "BG1")) and doc["state"] == "FINISHED" and doc)
        assert done["receivers"][0]["result"] == "SUCCESS"


def test_undeclared_or_deleted_receivers_close_with_no_relation(sharing: SharingSandbox,
                                                                 advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    kept, gone = _openid(shop), _openid(shop)
    deleted = shop.call("POST", "/v3/profitsharing/receivers/delete",
                        {"appid": shop.appid, "type": "PERSONAL_OPENID", "account": gone})
    assert deleted.status_code == 200 and deleted.json() == {"type": "PERSONAL_OPENID", "account": gone}
    tid = shop.pay(1000)
    shop.share(tid, "NR1", [("PERSONAL_OPENID", kept, 100), ("PERSONAL_OPENID", gone, 100),
                            ("MERCHANT_ID", "1900000123", 100)])
    assert shop.unsplit(tid) == 700
    advance()
    lines = shop.query(tid, "NR1").json()["receivers"]
    assert [(r["result"], r.get("fail_reason")) for r in lines] == [
        ("SUCCESS", None), ("CLOSED", "NO_RELATION"), ("CLOSED", "NO_RELATION")]
    assert all(r["finish_time"] for r in lines)
    assert shop.unsplit(tid) == 900  # closed lines gave their money back
    assert shop.share(tid, "NR2", [("PERSONAL_OPENID", kept, 200)]).status_code == 200  # 30 % counts live lines


def test_close_knob_closes_every_receiver_while_set(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    assert shop.faults(profitsharing_close_reason="ACCOUNT_ABNORMAL")["faults"][
        "profitsharing_close_reason"] == "ACCOUNT_ABNORMAL"
    tid = shop.pay(1000)
    shop.share(tid, "CK1", [("PERSONAL_OPENID", openid, 100)])
    advance()
    line = shop.query(tid, "CK1").json()["receivers"][0]
    assert line["result"] == "CLOSED" and line["fail_reason"] == "ACCOUNT_ABNORMAL"
    assert shop.unsplit(tid) == 1000
    shop.faults(profitsharing_close_reason="")
    shop.share(tid, "CK2", [("PERSONAL_OPENID", openid, 100)])
    advance()
    assert shop.query(tid, "CK2").json()["receivers"][0]["result"] == "SUCCESS"
    bad = shop.http.post(f"{shop.base_url}/_faults", json={"mchid": shop.mchid, "profitsharing_close_reason": 1})
    assert bad.status_code == 400


def test_thirty_percent_and_not_enough(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1001)  # floor(1001 * 30 / 100) = 300
    assert shop.share(tid, "L1", [("PERSONAL_OPENID", openid, 200)]).status_code == 200
    expect_error(shop.share(tid, "L2", [("PERSONAL_OPENID", openid, 60), ("PERSONAL_OPENID", openid, 41)]),
           400, "INVALID_REQUEST", "分账金额超出最大分账比例")
    assert shop.share(tid, "L3", [("PERSONAL_OPENID", openid, 100)]).status_code == 200
    expect_error(shop.share(tid, "L4", [("PERSONAL_OPENID", openid, 1)]), 400, "INVALID_REQUEST")

    refunded = shop.pay(1000)
    assert shop.refund(refunded, 900, 1000).status_code == 200
    expect_error(shop.share(refunded, "L5", [("PERSONAL_OPENID", openid, 101)]), 403, "NOT_ENOUGH", "分账金额不足")
    assert shop.share(refunded, "L6", [("PERSONAL_OPENID", openid, 100)]).status_code == 200
    assert shop.unsplit(refunded) == 0


def test_same_out_order_no_is_the_same_order(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1000)
    first = shop.share(tid, "ID1", [("PERSONAL_OPENID", openid, 100)]).json()
    again = shop.share(tid, "ID1", [("PERSONAL_OPENID", openid, 250), ("PERSONAL_OPENID", openid, 50)])
    assert again.status_code == 200 and again.json() == first
    assert shop.unsplit(tid) == 900
    advance()
    replay = shop.share(shop.pay(10), "ID1", [("PERSONAL_OPENID", openid, 1)]).json()  # another transaction even
    assert replay["order_id"] == first["order_id"] and replay["state"] == "FINISHED"


def test_order_validation_and_lookup_errors(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1000)
    line = {"type": "PERSONAL_OPENID", "account": openid, "amount": 10, "description": "分账"}
    body = {"appid": shop.appid, "transaction_id": tid, "out_order_no": "V1", "receivers": [line],
            "unfreeze_unsplit": False}
    for change in ({"out_order_no": "bad no!"}, {"out_order_no": "x" * 65}, {"out_order_no": None},
                   {"receivers": [line] * 51}, {"receivers": []}, {"receivers": "x"}, {"unfreeze_unsplit": "true"},
                   {"unfreeze_unsplit": None}, {"transaction_id": None}, {"receivers": [{**line, "amount": 0}]},
                   {"receivers": [{**line, "amount": "10"}]}, {"receivers": [{**line, "amount": True}]},
                   {"receivers": [{**line, "description": "x" * 81}]}, {"receivers": [{**line, "description": ""}]},
                   {"receivers": [{**line, "type": "BANK"}]}, {"receivers": [{**line, "account": ""}]},
                   {"receivers": [{**line, "type": "MERCHANT_ID", "account": "12ab5678"}]}, {"appid": None}):
        expect_error(shop.call("POST", "/v3/profitsharing/orders", {**body, **change}), 400, "PARAM_ERROR")
    expect_error(shop.call("POST", "/v3/profitsharing/orders", {**body, "appid": "wx0000000000000000"}),
           400, "INVALID_REQUEST")
    expect_error(shop.call("POST", "/v3/profitsharing/orders", {**body, "receivers": [
        {**line, "type": "MERCHANT_ID", "account": shop.mchid}]}), 400, "INVALID_REQUEST")  # never to itself
    unknown = shop.call("POST", "/v3/profitsharing/orders", {**body, "transaction_id": "4200000000000000000000000000"})
    expect_error(unknown, 404, "RESOURCE_NOT_EXISTS", "订单不存在")
    expect_error(shop.share(shop.pay(1000, profit_sharing=False), "V2", [("PERSONAL_OPENID", openid, 1)]),
           400, "INVALID_REQUEST", "该笔订单不支持分账")
    other = sharing.shop()
    expect_error(other.share(tid, "V3", [("PERSONAL_OPENID", openid, 1)]), 404, "RESOURCE_NOT_EXISTS")  # not its order
    assert shop.call("POST", "/v3/profitsharing/orders", {**body, "receivers": [], "unfreeze_unsplit": True}
                     ).status_code == 200  # no receivers: only to unfreeze

    expect_error(shop.call("GET", "/v3/profitsharing/orders/V1"), 400, "PARAM_ERROR")
    expect_error(shop.query(tid, "NEVER"), 404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.query("4200000000000000000000000000", "V1"), 404, "RESOURCE_NOT_EXISTS")
    expect_error(other.query(tid, "V1"), 404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.call("GET", "/v3/profitsharing/transactions/4200000000000000000000000000/amounts"),
           404, "RESOURCE_NOT_EXISTS")
    assert shop.unsplit(shop.pay(100, profit_sharing=False)) == 0


def test_unfreeze_unsplit_finishes_the_transaction(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1000)
    created = shop.share(tid, "UF1", [("PERSONAL_OPENID", openid, 100)], unfreeze=True).json()
    assert created["state"] == "PROCESSING" and len(created["receivers"]) == 1
    expect_error(shop.share(tid, "UF2", [("PERSONAL_OPENID", openid, 1)]), 400, "INVALID_REQUEST", "分账已完结")
    assert shop.unsplit(tid) == 0
    advance()
    done = shop.query(tid, "UF1").json()
    assert done["state"] == "FINISHED"
    own = done["receivers"][-1]
    assert (own["type"], own["account"], own["amount"], own["description"], own["result"]) == (
        "MERCHANT_ID", shop.mchid, 900, "解冻给分账方", "SUCCESS")
    assert own["detail_id"].isdigit() and BEIJING.match(own["finish_time"])
    expect_error(shop.unfreeze(tid, "UF3"), 400, "INVALID_REQUEST", "分账已完结")
    assert shop.unsplit(tid) == 0
    assert shop.refund(tid, 900, 1000).status_code == 200  # the unfrozen money is refundable
    expect_error(shop.refund(tid, 1, 1000), 403, "NOT_ENOUGH", "可退款金额不足，请先分账回退")  # the shared 100 is not


def test_unfreeze_endpoint(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    partner = _partner(shop, sharing)
    tid = shop.pay(1000)
    shop.share(tid, "UE1", [("MERCHANT_ID", partner, 300)])
    advance()
    created = shop.unfreeze(tid, "UE2")
    assert created.status_code == 200, created.text
    order = created.json()
    assert order["state"] == "PROCESSING" and order["transaction_id"] == tid and order["out_order_no"] == "UE2"
    [line] = order["receivers"]
    assert (line["type"], line["account"], line["amount"], line["description"], line["result"]) == (
        "MERCHANT_ID", shop.mchid, 700, "解冻给分账方", "PENDING")
    assert shop.unfreeze(tid, "UE2").json() == order  # same out_order_no, same order
    assert shop.unsplit(tid) == 0
    expect_error(shop.share(tid, "UE3", [("MERCHANT_ID", partner, 1)]), 400, "INVALID_REQUEST", "分账已完结")
    advance()
    done = shop.query(tid, "UE2").json()
    assert done["state"] == "FINISHED" and done["receivers"][0]["result"] == "SUCCESS"
    assert done["receivers"][0]["amount"] == 700 and done["receivers"][0]["finish_time"]

    expect_error(shop.unfreeze("4200000000000000000000000000", "UE4"), 404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.unfreeze(shop.pay(10, profit_sharing=False), "UE5"), 400, "INVALID_REQUEST", "该笔订单不支持分账")
    for bad in ({"description": ""}, {"description": "x" * 81}, {"out_order_no": "a b"}, {"transaction_id": 1}):
        body = {"transaction_id": tid, "out_order_no": "UE6", "description": "解冻", **bad}
        expect_error(shop.call("POST", "/v3/profitsharing/orders/unfreeze", body), 400, "PARAM_ERROR")

    nothing_left = shop.pay(1000)  # everything is shared or refunded: the unfreeze line is 0 and still finishes
    shop.share(nothing_left, "UE7", [("MERCHANT_ID", partner, 300)])
    assert shop.refund(nothing_left, 700, 1000).status_code == 200
    assert shop.unfreeze(nothing_left, "UE8").json()["receivers"][0]["amount"] == 0
    advance()
    finished = shop.query(nothing_left, "UE8").json()
    assert finished["state"] == "FINISHED" and finished["receivers"][0]["amount"] == 0


def test_refunds_only_take_what_was_not_shared(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1000)
    shop.share(tid, "RF1", [("PERSONAL_OPENID", openid, 300)])
    expect_error(shop.refund(tid, 701, 1000), 403, "NOT_ENOUGH", "可退款金额不足，请先分账回退")
    assert shop.refund(tid, 700, 1000).status_code == 200
    expect_error(shop.refund(tid, 1, 1000), 403, "NOT_ENOUGH")
    expect_error(shop.refund(tid, 301, 1000), 400, "INVALID_REQUEST")  # beyond the order itself: the usual error
    plain = shop.pay(1000, profit_sharing=False)
    assert shop.refund(plain, 1000, 1000).status_code == 200  # orders not opened for sharing: unchanged


def test_answers_are_signed_and_fault_knobs_apply(sharing: SharingSandbox) -> None:
    for mode in ("public_key", "platform_certificate"):
        shop = sharing.shop(mode)  # Shop.call verifies every answer's signature with the key it names
        tid, openid = shop.pay(1000), _openid(shop)
        expect_error(shop.query(tid, "NOPE"), 404, "RESOURCE_NOT_EXISTS")  # errors are signed too
        shop.faults(fail_with_500=1)
        expect_error(shop.share(tid, "FK1", [("PERSONAL_OPENID", openid, 10)]), 500, "SYSTEM_ERROR")
        expect_error(shop.query(tid, "FK1"), 404, "RESOURCE_NOT_EXISTS")  # a 500 did nothing
        shop.faults(hang_seconds=0.3)
        started = time.monotonic()
        assert shop.unsplit(tid) == 1000
        assert time.monotonic() - started >= 0.3
        shop.faults(hang_seconds=0)
    unsigned = sharing.http.get(f"{sharing.base_url}/v3/profitsharing/transactions/1/amounts")
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "SIGN_ERROR"


def _server(path: Path) -> FastAPI:
    parent = FastAPI()
    config = WechatSandboxConfig(state_path=str(path), time_factor=0.01)  # nothing settles before the restart
    parent.mount("/wechatpay", create_wechatpay_sandbox(config))
    return parent


def test_profit_sharing_survives_a_restart(tmp_path: Path, advance: Callable[[], None]) -> None:
    state = tmp_path / "wechat.sqlite3"
    with httpx.Client(timeout=10) as http:
        with serve_in_thread(_server(state)) as url:
            shop = provision(http, f"{url}/wechatpay")
            openid = _openid(shop)
            tid = shop.pay(1000)
            assert shop.share(tid, "RS1", [("PERSONAL_OPENID", openid, 100)]).json()["state"] == "PROCESSING"
        with serve_in_thread(_server(state)) as url:
            shop.base_url = f"{url}/wechatpay"
            assert shop.query(tid, "RS1").json()["state"] == "PROCESSING"
            assert shop.unsplit(tid) == 900
            advance()
            done = shop.query(tid, "RS1").json()  # the receiver is still declared: SUCCESS, not NO_RELATION
            assert done["state"] == "FINISHED" and done["receivers"][0]["result"] == "SUCCESS"
            assert shop.share(tid, "RS1", [("PERSONAL_OPENID", openid, 5)]).json()["order_id"] == done["order_id"]
            expect_error(shop.share(tid, "RS2", [("PERSONAL_OPENID", openid, 201)]), 400, "INVALID_REQUEST")


def test_concurrent_orders_never_exceed_the_limits(sharing: SharingSandbox) -> None:
    shop = sharing.shop()
    openid = _openid(shop)
    tid = shop.pay(1000)  # at most 300 may be shared

    def attempt(index: int) -> int:
        return shop.share(tid, f"CC{index}", [("PERSONAL_OPENID", openid, 70)]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(attempt, range(16)))
    assert statuses.count(200) == 4 and statuses.count(400) == 12
    assert shop.unsplit(tid) == 1000 - 4 * 70

    raced = shop.pay(1000)  # refunds and sharing orders racing for the same money

    def refund_or_share(index: int) -> tuple[str, int]:
        if index % 2:
            return "refund", shop.refund(raced, 200, 1000).status_code
        return "share", shop.share(raced, f"CR{index}", [("PERSONAL_OPENID", openid, 100)]).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(refund_or_share, range(16)))
    refunds, shares = results.count(("refund", 200)), results.count(("share", 200))
    assert shares <= 3 and 200 * refunds + 100 * shares <= 1000
    assert shop.unsplit(raced) == 1000 - 200 * refunds - 100 * shares
