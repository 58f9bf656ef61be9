"""Profit sharing (交易分账) on the live Alipay sandbox: relation bind/unbind, order.settle and its rules,
settle.query, onsettle.query, refunds of shared trades, the fault knob and signed answers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from tests.sandbox.alipay.alipay_harness import SandboxApp
from tests.sandbox.alipay.royalty_harness import (
    NOT_BOUND,
    USER_A,
    USER_B,
    bind,
    call,
    client,
    details,
    failure,
    is_digits,
    paid_trade,
    refund,
    settle,
    states,
    unsettled,
)

from indiepay.channels.alipay import signing

INVALID = ("40002", "isv.invalid-parameter")
MISSING = ("40002", "isv.missing-parameter")
TOO_MUCH = ("40004", "ACQ.ALLOC_AMOUNT_VALIDATE_ERROR")


def test_trade_records_royalty_freeze(sbx: SandboxApp) -> None:
    frozen = call(sbx, "alipay.trade.precreate", {"out_trade_no": "fz_1", "total_amount": "1.00", "subject": "s",
                                                  "extend_params": {"royalty_freeze": "true", "other": "x"}})
    plain = call(sbx, "alipay.trade.precreate", {"out_trade_no": "fz_2", "total_amount": "1.00", "subject": "s",
                                                 "extend_params": {"royalty_freeze": "false"}})
    bare = call(sbx, "alipay.trade.precreate", {"out_trade_no": "fz_3", "total_amount": "1.00", "subject": "s"})
    assert frozen.ok and plain.ok and bare.ok
    assert [sbx.order(n)["order"]["royalty_freeze"] for n in ("fz_1", "fz_2", "fz_3")] == [  # type: ignore[index]
        True, False, False]

    url = client(sbx).redirect_url("alipay.trade.page.pay", {
        "out_trade_no": "fz_page", "total_amount": "2.00", "subject": "s", "product_code": "FAST_INSTANT_TRADE_PAY",
        "extend_params": {"royalty_freeze": "true"}}, notify_url=None, return_url=None)
    assert sbx.http.get(url).status_code == 200
    assert sbx.order("fz_page")["order"]["royalty_freeze"] is True  # type: ignore[index]
    bad_page = client(sbx).redirect_url("alipay.trade.wap.pay", {
        "out_trade_no": "fz_wap", "total_amount": "2.00", "subject": "s", "product_code": "QUICK_WAP_WAY",
        "extend_params": {"royalty_freeze": "yes"}}, notify_url=None, return_url=None)
    page = sbx.http.get(bad_page)
    assert page.status_code == 400 and "isv.invalid-parameter" in page.text


@pytest.mark.parametrize("extend", [{"royalty_freeze": "yes"}, {"royalty_freeze": True}, {"royalty_freeze": ""},
                                    "royalty_freeze=true", ["royalty_freeze"]])
def test_royalty_freeze_validation(sbx: SandboxApp, extend: object) -> None:
    response = call(sbx, "alipay.trade.precreate", {"out_trade_no": "fz_bad", "total_amount": "1.00", "subject": "s",
                                                    "extend_params": extend})
    assert failure(response) == INVALID


def test_bind_and_unbind(sbx: SandboxApp) -> None:
    receivers = [{"type": "userId", "account": USER_A}, {"type": "loginName", "account": "shop@example.com"},
                 {"type": "loginName", "account": "13800138000", "name": "张三", "memo": ""},
                 {"type": "openId", "account": "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"}]
    for method in ("alipay.trade.royalty.relation.bind", "alipay.trade.royalty.relation.bind",
                   "alipay.trade.royalty.relation.unbind", "alipay.trade.royalty.relation.unbind"):
        response = call(sbx, method, {"out_request_no": "rel_1", "receiver_list": receivers})
        assert (response.code, response.field("result_code")) == ("10000", "SUCCESS"), response
    stranger = call(sbx, "alipay.trade.royalty.relation.unbind",
                    {"out_request_no": "rel_2", "receiver_list": [{"type": "userId", "account": NOT_BOUND}]})
    assert stranger.field("result_code") == "SUCCESS"


@pytest.mark.parametrize(("biz", "expected"), [
    ({"out_request_no": "r1"}, MISSING),
    ({"receiver_list": [{"type": "userId", "account": USER_A}]}, MISSING),
    ({"out_request_no": "r-1", "receiver_list": [{"type": "userId", "account": USER_A}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": []}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "userId", "account": USER_A}] * 21}, INVALID),
    ({"out_request_no": "r1", "receiver_list": ["2088000000000001"]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "userId", "account": "208800000001"}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "userId", "account": "1088000000000001"}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "loginName", "account": "not-an-email"}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "loginName", "account": "1380013800"}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "openId", "account": "o" * 129}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "openId", "account": ""}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "bankcard", "account": USER_A}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "userId"}]}, INVALID),
    ({"out_request_no": "r1", "receiver_list": [{"type": "userId", "account": USER_A, "name": 7}]}, INVALID),
])
def test_bind_validation(sbx: SandboxApp, biz: dict[str, Any], expected: tuple[str, str]) -> None:
    assert failure(call(sbx, "alipay.trade.royalty.relation.bind", biz)) == expected
    assert failure(call(sbx, "alipay.trade.royalty.relation.unbind", biz)) == expected


def test_settle_sync_and_queries(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, USER_A, USER_B)
    response = settle(sbx, trade_no, "st_1", (USER_A, "10.00"), (USER_B, "5.50"))
    assert response.ok and response.field("trade_no") == trade_no and is_digits(response.field("settle_no"))
    settle_no = response.field("settle_no")
    assert settle_no is not None

    by_no = call(sbx, "alipay.trade.order.settle.query", {"settle_no": settle_no})
    by_request = call(sbx, "alipay.trade.order.settle.query", {"out_request_no": "st_1", "trade_no": trade_no})
    assert by_no.body == by_request.body
    assert by_no.field("out_request_no") == "st_1"
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", by_no.field("operation_dt") or "")
    found = by_no.body["royalty_detail_list"]
    assert states(found) == [("transfer", USER_A, "10.00", "SUCCESS", None),
                             ("transfer", USER_B, "5.50", "SUCCESS", None)]
    for detail in found:
        assert (detail["trans_out"], detail["trans_out_type"], detail["trans_in_type"]) == (
            sbx.credentials["seller_id"], "userId", "userId")
        assert is_digits(detail["detail_id"]) and detail["execute_dt"] == by_no.field("operation_dt")
        assert "error_code" not in detail and "error_desc" not in detail
    assert found[0]["detail_id"] != found[1]["detail_id"]
    assert unsettled(sbx, trade_no) == "84.50"


def test_settle_is_idempotent_per_trade(sbx: SandboxApp) -> None:
    trade_no, other_trade = paid_trade(sbx, "100.00"), paid_trade(sbx, "100.00")
    bind(sbx, USER_A)
    first = settle(sbx, trade_no, "same_1", (USER_A, "10.00"))
    again = settle(sbx, trade_no, "same_1", (USER_A, "20.00"), finish=True)  # whatever the body
    assert first.ok and again.ok
    assert (again.field("trade_no"), again.field("settle_no")) == (trade_no, first.field("settle_no"))
    assert unsettled(sbx, trade_no) == "90.00"
    elsewhere = settle(sbx, other_trade, "same_1", (USER_A, "1.00"))  # same number, other trade: a new settle
    assert elsewhere.ok and elsewhere.field("settle_no") != first.field("settle_no")


def test_unbound_receiver_fails_alone(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, USER_A, USER_B)
    call(sbx, "alipay.trade.royalty.relation.unbind",
         {"out_request_no": "ub_1", "receiver_list": [{"type": "userId", "account": USER_B}]})
    response = settle(sbx, trade_no, "nb_1", (USER_A, "1.00"), (NOT_BOUND, "2.00"), (USER_B, "3.00"))
    assert response.ok
    found = details(sbx, response.field("settle_no") or "")
    assert states(found) == [("transfer", USER_A, "1.00", "SUCCESS", None),
                             ("transfer", NOT_BOUND, "2.00", "FAIL", "RECEIVER_NOT_BIND"),
                             ("transfer", USER_B, "3.00", "FAIL", "RECEIVER_NOT_BIND")]
    assert found[1]["error_desc"] == "分账关系未绑定"
    assert unsettled(sbx, trade_no) == "99.00"  # failed details moved no money
    by_mail = settle(sbx, trade_no, "nb_2", (USER_A, "1.00"))
    assert by_mail.ok


def test_fault_knob_fails_transfers(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, USER_A)
    assert sbx.faults(royalty_fail_error_code="TXN_RESULT_ACCOUNT_STATUS_NOT_VALID")["royalty_fail_error_code"] == (
        "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID")
    knobs = sbx.http.get(sbx.base + "/_faults", params={"app_id": sbx.app_id}).json()
    assert knobs["royalty_fail_error_code"] == "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID"
    failed = settle(sbx, trade_no, "kn_1", (USER_A, "29.99"), (NOT_BOUND, "0.01"))
    assert failed.ok
    assert states(details(sbx, failed.field("settle_no") or "")) == [
        ("transfer", USER_A, "29.99", "FAIL", "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID"),
        ("transfer", NOT_BOUND, "0.01", "FAIL", "TXN_RESULT_ACCOUNT_STATUS_NOT_VALID")]
    assert unsettled(sbx, trade_no) == "100.00"
    sbx.faults(royalty_fail_error_code="")
    later = settle(sbx, trade_no, "kn_2", (USER_A, "30.00"))  # the failed 30.00 did not use the limit up
    assert states(details(sbx, later.field("settle_no") or "")) == [("transfer", USER_A, "30.00", "SUCCESS", None)]
    assert sbx.http.post(sbx.base + "/_faults", json={"app_id": sbx.app_id, "royalty_fail_error_code": 1}
                         ).status_code == 422


def test_thirty_percent_of_total(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "10.01")  # 30 % is 3.003: 3.00 at most
    bind(sbx, USER_A, USER_B)
    over = settle(sbx, trade_no, "pc_1", (USER_A, "3.01"))
    assert failure(over) == TOO_MUCH and over.sub_msg == "分账金额超过最大可分账金额"
    assert failure(settle(sbx, trade_no, "pc_2", (USER_A, "2.00"), (USER_B, "1.01"))) == TOO_MUCH
    assert settle(sbx, trade_no, "pc_3", (USER_A, "2.00")).ok
    assert failure(settle(sbx, trade_no, "pc_4", (USER_B, "1.01"))) == TOO_MUCH  # earlier settles count
    assert settle(sbx, trade_no, "pc_5", (USER_B, "1.00")).ok
    assert failure(settle(sbx, trade_no, "pc_6", (USER_B, "0.01"))) == TOO_MUCH
    assert unsettled(sbx, trade_no) == "7.01"


def test_cannot_settle_more_than_is_left(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "10.00")
    bind(sbx, USER_A)
    assert refund(sbx, trade_no, "9.00").ok
    assert unsettled(sbx, trade_no) == "1.00"
    assert failure(settle(sbx, trade_no, "lf_1", (USER_A, "1.01"))) == TOO_MUCH  # under 30 %, over what is left
    assert settle(sbx, trade_no, "lf_2", (USER_A, "1.00")).ok
    assert unsettled(sbx, trade_no) == "0.00"


def test_finish_unfreezes_the_rest(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, USER_A)
    assert settle(sbx, trade_no, "fin_0", (USER_A, "5.00")).ok
    done = settle(sbx, trade_no, "fin_1", (USER_A, "10.00"), (NOT_BOUND, "1.00"), finish=True)
    assert done.ok
    found = details(sbx, done.field("settle_no") or "")
    seller = sbx.credentials["seller_id"]
    assert states(found) == [("transfer", USER_A, "10.00", "SUCCESS", None),
                             ("transfer", NOT_BOUND, "1.00", "FAIL", "RECEIVER_NOT_BIND"),
                             ("unfreeze", seller, "85.00", "SUCCESS", None)]
    assert unsettled(sbx, trade_no) == "0.00"
    after = settle(sbx, trade_no, "fin_2", (USER_A, "1.00"))
    assert failure(after) == ("40004", "ACQ.TRADE_SETTLE_ERROR") and after.sub_msg == "分账已完结"
    assert failure(settle(sbx, trade_no, "fin_3", finish=True)) == ("40004", "ACQ.TRADE_SETTLE_ERROR")
    assert settle(sbx, trade_no, "fin_1").field("settle_no") == done.field("settle_no")  # a retry still answers

    untouched = paid_trade(sbx, "20.00")
    only_finish = settle(sbx, untouched, "fin_4", finish=True)  # no royalty_parameters at all
    assert only_finish.ok
    assert states(details(sbx, only_finish.field("settle_no") or "")) == [
        ("unfreeze", seller, "20.00", "SUCCESS", None)]


def test_settle_business_errors(sbx: SandboxApp, sandbox_base: str) -> None:
    bind(sbx, USER_A)
    missing = settle(sbx, "2024010122001" + "0" * 15, "be_1", (USER_A, "1.00"))
    assert failure(missing) == ("40004", "ACQ.TRADE_NOT_EXIST")
    plain = paid_trade(sbx, "10.00", freeze=False)
    not_frozen = settle(sbx, plain, "be_2", (USER_A, "1.00"))
    assert failure(not_frozen) == ("40004", "ACQ.TRADE_SETTLE_ERROR") and not_frozen.sub_msg == "交易未冻结分账资金"

    url = client(sbx).redirect_url("alipay.trade.page.pay", {
        "out_trade_no": "be_unpaid", "total_amount": "2.00", "subject": "s", "product_code": "FAST_INSTANT_TRADE_PAY",
        "extend_params": {"royalty_freeze": "true"}}, notify_url=None, return_url=None)
    assert sbx.http.get(url).status_code == 200
    unpaid = str(sbx.order("be_unpaid")["order"]["trade_no"])  # type: ignore[index]
    assert failure(settle(sbx, unpaid, "be_3", (USER_A, "0.10"))) == ("40004", "ACQ.TRADE_STATUS_ERROR")
    assert unsettled(sbx, unpaid) == "0.00"

    closed = paid_trade(sbx, "1.00")
    assert refund(sbx, closed, "1.00").ok  # fully refunded: TRADE_CLOSED
    assert failure(settle(sbx, closed, "be_4", (USER_A, "0.10"))) == ("40004", "ACQ.TRADE_STATUS_ERROR")


@pytest.mark.parametrize(("change", "expected"), [
    ({"out_request_no": None}, MISSING),
    ({"out_request_no": "a-b"}, INVALID),
    ({"out_request_no": "x" * 65}, INVALID),
    ({"trade_no": None}, MISSING),
    ({"royalty_parameters": None}, MISSING),
    ({"royalty_parameters": []}, MISSING),
    ({"royalty_parameters": {"trans_in": USER_A}}, INVALID),
    ({"royalty_parameters": ["x"]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A, "amount": "0.01"}] * 51}, INVALID),
    ({"royalty_parameters": [{"royalty_type": "loan", "trans_in_type": "userId", "trans_in": USER_A,
                              "amount": "1.00"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "cardNo", "trans_in": USER_A, "amount": "1.00"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": "12345", "amount": "1.00"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in": USER_A, "amount": "1.00"}]}, MISSING),
    ({"royalty_parameters": [{"trans_in_type": "userId", "amount": "1.00"}]}, MISSING),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A}]}, MISSING),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A, "amount": "0.00"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A, "amount": "0.001"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A, "amount": "-1.00"}]}, INVALID),
    ({"royalty_parameters": [{"trans_in_type": "userId", "trans_in": USER_A, "amount": "abc"}]}, INVALID),
    ({"royalty_mode": "later"}, INVALID),
    ({"extend_params": {"royalty_finish": "yes"}}, INVALID),
    ({"extend_params": "royalty_finish"}, INVALID),
])
def test_settle_validation(sbx: SandboxApp, change: dict[str, Any], expected: tuple[str, str]) -> None:
    trade_no = paid_trade(sbx, "100.00")
    biz: dict[str, Any] = {"out_request_no": "val_1", "trade_no": trade_no, "royalty_parameters": [
        {"trans_in_type": "userId", "trans_in": USER_A, "amount": "1.00"}]}
    biz.update(change)
    assert failure(call(sbx, "alipay.trade.order.settle", {k: v for k, v in biz.items() if v is not None})) == expected
    assert failure(call(sbx, "alipay.trade.order.settle.query", {"settle_no": "1"})) == (
        "40004", "ACQ.TRADE_SETTLE_NOT_EXIST")  # nothing was recorded


def test_settle_accepts_other_receiver_types_and_number_amounts(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "100.00")
    bind(sbx, "shop@example.com", kind="loginName")
    bind(sbx, "openid_123", kind="openId")
    response = call(sbx, "alipay.trade.order.settle", {"out_request_no": "ty_1", "trade_no": trade_no,
                                                       "royalty_mode": "sync", "royalty_parameters": [
        {"trans_in_type": "loginName", "trans_in": "shop@example.com", "amount": 1.5},
        {"trans_in_type": "openId", "trans_in": "openid_123", "amount": 2}]})
    assert response.ok, response
    found = details(sbx, response.field("settle_no") or "")
    assert [(d["trans_in_type"], d["amount"], d["state"]) for d in found] == [
        ("loginName", "1.50", "SUCCESS"), ("openId", "2.00", "SUCCESS")]


def test_query_errors(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "10.00")
    for biz in ({"settle_no": "20240101000000000000000000000000"}, {"out_request_no": "nope", "trade_no": trade_no}):
        assert failure(call(sbx, "alipay.trade.order.settle.query", biz)) == ("40004", "ACQ.TRADE_SETTLE_NOT_EXIST")
    for biz in ({}, {"out_request_no": "q_1"}, {"trade_no": trade_no}):
        assert failure(call(sbx, "alipay.trade.order.settle.query", biz)) == MISSING
    assert failure(call(sbx, "alipay.trade.order.onsettle.query", {"trade_no": "2024" + "0" * 24})) == (
        "40004", "ACQ.TRADE_NOT_EXIST")
    assert failure(call(sbx, "alipay.trade.order.onsettle.query", {})) == MISSING
    created = call(sbx, "alipay.trade.precreate", {"out_trade_no": "q_unscanned", "total_amount": "1.00",
                                                   "subject": "s", "extend_params": {"royalty_freeze": "true"}})
    assert created.ok
    unscanned = str(sbx.order("q_unscanned")["order"]["trade_no"])  # type: ignore[index]
    assert failure(call(sbx, "alipay.trade.order.onsettle.query", {"trade_no": unscanned})) == (
        "40004", "ACQ.TRADE_NOT_EXIST")  # a QR nobody scanned is no trade yet
    assert unsettled(sbx, paid_trade(sbx, "3.00", freeze=False)) == "3.00"


def test_refund_cannot_take_shared_money(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "20.00")
    bind(sbx, USER_A)
    assert settle(sbx, trade_no, "rf_1", (USER_A, "3.00"), (NOT_BOUND, "1.00")).ok  # 3.00 shared, 1.00 failed
    blocked = refund(sbx, trade_no, "17.01")
    assert failure(blocked) == ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH") and blocked.sub_msg == "卖家余额不足"
    assert refund(sbx, trade_no, "10.00").ok
    assert failure(refund(sbx, trade_no, "7.01")) == ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH")
    assert failure(refund(sbx, trade_no, "10.01")) == ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert refund(sbx, trade_no, "7.00").ok
    assert unsettled(sbx, trade_no) == "0.00"

    finished = paid_trade(sbx, "10.00")
    assert settle(sbx, finished, "rf_2", (USER_A, "2.00"), finish=True).ok
    assert refund(sbx, finished, "8.00").ok  # the unfrozen rest is the seller's again
    assert failure(refund(sbx, finished, "0.01")) == ("40004", "ACQ.SELLER_BALANCE_NOT_ENOUGH")

    plain = paid_trade(sbx, "10.00", freeze=False)
    assert refund(sbx, plain, "10.00").ok  # no royalty: unchanged


def test_answers_are_signed_under_the_method_member(sbx: SandboxApp) -> None:
    trade_no = paid_trade(sbx, "10.00")
    public = signing.load_public_key(sbx.credentials["alipay_public_key"])
    for method, biz in (("alipay.trade.order.settle", {"out_request_no": "sg_1", "trade_no": trade_no,
                                                       "royalty_parameters": [{"trans_in_type": "userId",
                                                                               "trans_in": USER_A, "amount": "1"}]}),
                        ("alipay.trade.order.settle.query", {"out_request_no": "sg_1", "trade_no": trade_no}),
                        ("alipay.trade.order.settle.query", {"settle_no": "0"}),
                        ("alipay.trade.order.onsettle.query", {"trade_no": trade_no}),
                        ("alipay.trade.royalty.relation.bind", {"out_request_no": "sg_2", "receiver_list": []}),
                        ("alipay.trade.royalty.relation.unbind", {"out_request_no": "sg_3", "receiver_list": [
                            {"type": "userId", "account": USER_A}]})):
        reply = sbx.http.post(sbx.gateway_url, data=client(sbx).signed_params(method, biz))
        member, raw, sign = signing.split_signed_response(reply.text, method)
        assert member == method.replace(".", "_") + "_response"
        assert sign is not None and signing.rsa2_verify(public, raw, sign), method
        assert json.loads(raw)["code"] in ("10000", "40002", "40004")
