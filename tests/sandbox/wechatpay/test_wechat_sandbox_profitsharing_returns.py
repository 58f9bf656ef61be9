"""Profit-sharing returns (分账回退): only from a merchant receiver that was paid, never more than it got,
idempotent by out_return_no, PROCESSING → SUCCESS, and once back the money is refundable again."""

from __future__ import annotations

from collections.abc import Callable

from wechat_profitsharing_support import BEIJING, SharingSandbox, Shop, expect_error


def _shared(sharing: SharingSandbox, advance: Callable[[], None], amount: int = 300,
            out_order_no: str = "RO1") -> tuple[Shop, str, str, str]:
    """(shop, transaction_id, partner mchid, order_id): ``amount`` of 1000 shared to a partner, FINISHED."""
    shop = sharing.shop()
    partner = sharing.shop().mchid
    assert shop.add_receiver("MERCHANT_ID", partner, name="合作方").status_code == 200
    tid = shop.pay(1000)
    order_id = shop.share(tid, out_order_no, [("MERCHANT_ID", partner, amount)]).json()["order_id"]
    advance()
    assert shop.query(tid, out_order_no).json()["state"] == "FINISHED"
    return shop, tid, partner, order_id


def test_return_processing_then_success(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop, tid, partner, order_id = _shared(sharing, advance)
    created = shop.give_back("RO1", "RT1", partner, 120)
    assert created.status_code == 200, created.text
    back = created.json()
    assert set(back) == {"order_id", "out_order_no", "out_return_no", "return_id", "return_mchid", "amount",
                         "description", "result", "create_time"}
    assert (back["order_id"], back["out_order_no"], back["out_return_no"], back["return_mchid"], back["amount"],
            back["result"]) == (order_id, "RO1", "RT1", partner, 120, "PROCESSING")
    assert back["return_id"].isdigit() and BEIJING.match(back["create_time"])
    query = {"out_order_no": "RO1"}
    assert shop.call("GET", "/v3/profitsharing/return-orders/RT1", query=query).json() == back
    assert shop.unsplit(tid) == 700  # a PROCESSING return has not given anything back yet
    advance()
    done = shop.call("GET", "/v3/profitsharing/return-orders/RT1", query=query).json()
    assert done["result"] == "SUCCESS" and BEIJING.match(done["finish_time"]) and done["return_id"] == back["return_id"]
    assert "fail_reason" not in done
    assert shop.unsplit(tid) == 820
    assert shop.give_back("RO1", "RT1", partner, 1).json() == done  # same out_return_no: the existing return


def test_return_limits(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop, tid, partner, order_id = _shared(sharing, advance)
    assert shop.give_back("RO1", "RL1", partner, 200).status_code == 200
    expect_error(shop.give_back("RO1", "RL2", partner, 101), 403, "NOT_ENOUGH", "回退金额不足")
    by_id = shop.call("POST", "/v3/profitsharing/return-orders", {
        "order_id": order_id, "out_return_no": "RL3", "return_mchid": partner, "amount": 100, "description": "退"})
    assert by_id.status_code == 200 and by_id.json()["out_order_no"] == "RO1"
    expect_error(shop.give_back("RO1", "RL4", partner, 1), 403, "NOT_ENOUGH")
    advance()
    expect_error(shop.give_back("RO1", "RL5", partner, 1), 403, "NOT_ENOUGH")  # settled returns still count
    assert shop.unsplit(tid) == 1000
    # the 30 % cap counts what was ever shared: returns do not make room for more
    expect_error(shop.share(tid, "RO2", [("MERCHANT_ID", partner, 1)]), 400, "INVALID_REQUEST",
                 "分账金额超出最大分账比例")


def test_return_errors(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop, _, partner, _ = _shared(sharing, advance)
    expect_error(shop.give_back("NEVER", "RE1", partner, 1), 404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.call("POST", "/v3/profitsharing/return-orders", {
        "order_id": "3000", "out_return_no": "RE2", "return_mchid": partner, "amount": 1, "description": "退"}),
        404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.give_back("RO1", "RE3", partner, 1, order_id="3000"), 404, "RESOURCE_NOT_EXISTS")  # disagree
    expect_error(shop.give_back("RO1", "RE4", "1900000001", 1), 400, "INVALID_REQUEST")  # not a receiver of it
    for bad in ({"amount": 0}, {"amount": "1"}, {"out_return_no": "a b"}, {"description": ""},
                {"return_mchid": "abc"}, {"out_order_no": None}):
        body = {"out_order_no": "RO1", "out_return_no": "RE5", "return_mchid": partner, "amount": 1,
                "description": "退", **bad}
        expect_error(shop.call("POST", "/v3/profitsharing/return-orders", body), 400, "PARAM_ERROR")
    expect_error(shop.call("GET", "/v3/profitsharing/return-orders/NEVER", query={"out_order_no": "RO1"}),
           404, "RESOURCE_NOT_EXISTS")
    assert shop.give_back("RO1", "RE6", partner, 1).status_code == 200
    expect_error(shop.call("GET", "/v3/profitsharing/return-orders/RE6", query={"out_order_no": "RO9"}),
           404, "RESOURCE_NOT_EXISTS")
    expect_error(shop.call("GET", "/v3/profitsharing/return-orders/RE6"), 400, "PARAM_ERROR")

    pending = shop.pay(1000)  # the receiver has not been paid yet (PENDING): nothing to return
    shop.share(pending, "RO3", [("MERCHANT_ID", partner, 100)])
    expect_error(shop.give_back("RO3", "RE7", partner, 1), 400, "INVALID_REQUEST")
    openid = "o" + "U" * 20  # a personal receiver cannot return
    assert shop.add_receiver("PERSONAL_OPENID", openid).status_code == 200
    shop.share(pending, "RO4", [("PERSONAL_OPENID", openid, 100)])
    advance()
    expect_error(shop.give_back("RO4", "RE8", partner, 1), 400, "INVALID_REQUEST")


def test_refund_blocked_until_the_return_succeeds(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop, tid, partner, _ = _shared(sharing, advance)
    expect_error(shop.refund(tid, 1000, 1000), 403, "NOT_ENOUGH", "可退款金额不足，请先分账回退")
    assert shop.refund(tid, 700, 1000).status_code == 200
    assert shop.give_back("RO1", "RB1", partner, 300).status_code == 200
    expect_error(shop.refund(tid, 300, 1000), 403, "NOT_ENOUGH")  # the return is still PROCESSING
    advance()
    assert shop.refund(tid, 300, 1000).status_code == 200
    assert shop.unsplit(tid) == 0


def test_returns_after_an_unfreeze(sharing: SharingSandbox, advance: Callable[[], None]) -> None:
    shop, tid, partner, _ = _shared(sharing, advance)
    shop.unfreeze(tid, "RU1")
    advance()
    assert shop.query(tid, "RU1").json()["receivers"][0]["amount"] == 700
    assert shop.give_back("RO1", "RU2", partner, 100).status_code == 200
    advance()
    assert shop.unsplit(tid) == 0  # unfrozen: nothing is left to share, returned money is the merchant's
    assert shop.refund(tid, 800, 1000).status_code == 200
    expect_error(shop.refund(tid, 1, 1000), 403, "NOT_ENOUGH")
