"""Helpers for the royalty (交易分账) tests: a signing client of the sandbox app, paid frozen trades, settles.

Every call goes through :class:`AlipayClient`, which verifies the answer's signature over its raw text, so
each helper call also checks that the sandbox signed what it answered.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from tests.sandbox.alipay.alipay_harness import SandboxApp

from indiepay.channels.alipay import signing
from indiepay.channels.alipay.client import AlipayClient, AlipayResponse
from indiepay.core.clock import SystemClock

USER_A = "2088000000000001"
USER_B = "2088000000000002"
NOT_BOUND = "2088000000000099"


def client(sbx: SandboxApp) -> AlipayClient:
    return AlipayClient(app_id=sbx.app_id,
                        app_private_key=signing.load_private_key(sbx.credentials["app_private_key"]),
                        alipay_public_key=signing.load_public_key(sbx.credentials["alipay_public_key"]),
                        gateway_url=sbx.gateway_url, http=sbx.http, clock=SystemClock())


def call(sbx: SandboxApp, method: str, biz: dict[str, Any]) -> AlipayResponse:
    """One verified gateway call (raises if the answer is unsigned or its signature does not verify)."""
    return client(sbx).call(method, biz, mutating=True)


def failure(response: AlipayResponse) -> tuple[str, str | None]:
    return response.code, response.sub_code


def paid_trade(sbx: SandboxApp, total: str = "100.00", *, freeze: bool = True, out_trade_no: str | None = None) -> str:
    """Precreate (frozen for sharing unless ``freeze`` is false), let the buyer pay; the ``trade_no``."""
    out_trade_no = out_trade_no or "rt_" + secrets.token_hex(6)
    biz: dict[str, Any] = {"out_trade_no": out_trade_no, "total_amount": total, "subject": "分账测试"}
    if freeze:
        biz["extend_params"] = {"royalty_freeze": "true"}
    created = call(sbx, "alipay.trade.precreate", biz)
    assert created.ok, created
    paid = sbx.http.post(sbx.base + "/_buyer/pay", json={"qr_code": created.field("qr_code")})
    assert paid.status_code == 200, paid.text
    trade_no: str = paid.json()["trade_no"]
    return trade_no


def bind(sbx: SandboxApp, *accounts: str, kind: str = "userId") -> AlipayResponse:
    receivers = [{"type": kind, "account": account, "name": "接收方", "memo": "分账"} for account in accounts]
    return call(sbx, "alipay.trade.royalty.relation.bind",
                {"out_request_no": "b" + secrets.token_hex(8), "receiver_list": receivers})


def settle(sbx: SandboxApp, trade_no: str, out_request_no: str, *transfers: tuple[str, str], finish: bool = False,
           mode: str | None = None) -> AlipayResponse:
    """``transfers``: ``(userId, amount)`` pairs."""
    biz: dict[str, Any] = {"out_request_no": out_request_no, "trade_no": trade_no, "royalty_parameters": [
        {"royalty_type": "transfer", "trans_in_type": "userId", "trans_in": account, "amount": amount,
         "desc": "分账给 " + account} for account, amount in transfers]}
    if finish:
        biz["extend_params"] = {"royalty_finish": "true"}
    if mode:
        biz["royalty_mode"] = mode
    return call(sbx, "alipay.trade.order.settle", biz)


def details(sbx: SandboxApp, settle_no: str) -> list[dict[str, Any]]:
    response = call(sbx, "alipay.trade.order.settle.query", {"settle_no": settle_no})
    assert response.ok, response
    found: list[dict[str, Any]] = response.body["royalty_detail_list"]
    return found


def states(found: list[dict[str, Any]]) -> list[tuple[str, str, str, str, str | None]]:
    return [(d["operation_type"], d["trans_in"], d["amount"], d["state"], d.get("error_code")) for d in found]


def unsettled(sbx: SandboxApp, trade_no: str) -> str | None:
    response = call(sbx, "alipay.trade.order.onsettle.query", {"trade_no": trade_no})
    assert response.ok, response
    return response.field("unsettled_amount")


def refund(sbx: SandboxApp, trade_no: str, amount: str) -> AlipayResponse:
    return call(sbx, "alipay.trade.refund", {"trade_no": trade_no, "refund_amount": amount,
                                             "out_request_no": "r" + secrets.token_hex(8)})


def is_digits(text: object) -> bool:
    return isinstance(text, str) and re.fullmatch(r"\d{20,}", text) is not None
