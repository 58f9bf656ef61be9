"""The gateway's business rules for orders and refunds, validated the way the real API validates.

Orders follow WeChat's trade states: NOTPAY → SUCCESS (buyer paid) → REFUND (any refund), or NOTPAY →
CLOSED. A repeated prepay with the same ``out_trade_no`` and the same parameters returns the same prepay
answer; different parameters are refused as "201 商户订单号重复". Refunds start PROCESSING and succeed after
a short delay; the remaining refundable amount can never go below zero, and a repeated ``out_refund_no``
returns the existing refund. An order opened with ``settle_info.profit_sharing`` records it (orders stored
before it existed count as false); what that changes lives in :mod:`.profitsharing`. The times an order or
refund records (success, creation) come from the gateway's business clock (``now`` arguments), which tests
may move; expiry and refund settlement delays stay on real time.
"""

from __future__ import annotations

import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from indiepay.core.clock import BUSINESS_TZ
from indiepay.sandbox.wechatpay.protocol import GatewayError, param_error

TRADE_TYPES = {"native": "NATIVE", "jsapi": "JSAPI", "h5": "MWEB"}
STATE_DESC = {"NOTPAY": "订单未支付", "SUCCESS": "支付成功", "REFUND": "转入退款", "CLOSED": "订单已关闭"}
_OUT_NO = re.compile(r"^[0-9A-Za-z_\-|*]{6,32}$")
_OUT_REFUND_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _obj(data: dict[str, Any], name: str) -> dict[str, Any]:
    value = data.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise param_error(f"{name}参数格式错误", name)
    return value


def _text(data: dict[str, Any], name: str, path: str, max_len: int, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise param_error(f"输入源“/body/{path}”映射到字段“{name}”必填性规则校验失败，此字段为必填项", path)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise param_error(f"字段“{path}”格式错误或超长", path)
    return value


def _check_notify_url(url: str, field: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or len(url) > 255:
        raise param_error(f"{field}格式不正确（须为不带参数的http(s)地址）", field)


def validate_prepay(kind: str, merchant: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Check a prepay body; return the order document to create. Raises GatewayError (PARAM_ERROR...)."""
    appid = _text(data, "appid", "appid", 32)
    mchid = _text(data, "mchid", "mchid", 32)
    description = _text(data, "description", "description", 127)
    out_trade_no = _text(data, "out_trade_no", "out_trade_no", 64)
    notify_url = _text(data, "notify_url", "notify_url", 256)
    attach = _text(data, "attach", "attach", 128, required=False)
    assert out_trade_no is not None and notify_url is not None
    if mchid != merchant["mchid"]:
        raise param_error("mchid与Authorization中的商户号不一致", "mchid")
    if appid != merchant["appid"]:
        raise GatewayError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配，请检查后再试")
    if not _OUT_NO.match(out_trade_no):
        raise param_error("out_trade_no须为6-32位数字、大小写字母或_-|*", "out_trade_no")
    _check_notify_url(notify_url, "notify_url")
    amount = _obj(data, "amount")
    total = amount.get("total")
    if total is None:
        raise param_error("输入源“/body/amount/total”映射到字段“订单总金额”必填性规则校验失败，此字段为必填项",
                          "amount.total")
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise param_error("订单金额必须为大于0的整数（单位：分）", "amount.total")
    currency = amount.get("currency", "CNY")
    if currency != "CNY":
        raise param_error("currency仅支持CNY", "amount.currency")
    time_expire = data.get("time_expire")
    if time_expire is not None:
        try:
            expires = datetime.fromisoformat(str(time_expire))
        except ValueError:
            raise param_error("time_expire格式错误，须为rfc3339格式", "time_expire") from None
        if expires.tzinfo is None:
            raise param_error("time_expire格式错误，须带时区", "time_expire")
    profit_sharing = _obj(data, "settle_info").get("profit_sharing", False)
    if not isinstance(profit_sharing, bool):  # an order opened for profit sharing keeps its money frozen
        raise param_error("settle_info.profit_sharing须为布尔值", "settle_info.profit_sharing")
    openid = _text(_obj(data, "payer"), "openid", "payer.openid", 128, required=(kind == "jsapi"))
    scene = _obj(data, "scene_info")
    client_ip = None
    if kind == "h5":
        client_ip = _text(scene, "payer_client_ip", "scene_info.payer_client_ip", 45)
        if not _obj(scene, "h5_info").get("type"):
            raise param_error("scene_info.h5_info.type为必填项", "scene_info.h5_info.type")
    return {
        "mchid": mchid, "appid": appid, "out_trade_no": out_trade_no, "trade_type": TRADE_TYPES[kind],
        "description": description, "notify_url": notify_url, "attach": attach or "", "total": total,
        "currency": "CNY", "time_expire": time_expire, "payer_openid": openid, "client_ip": client_ip,
        "trade_state": "NOTPAY", "created_at": datetime.now(UTC).isoformat(),
        "fingerprint": json.dumps(data, sort_keys=True, ensure_ascii=False),
        "transaction_id": None, "success_time": None, "prepay": {}, "profit_sharing": profit_sharing,
    }


def new_prepay(kind: str, order: dict[str, Any], public_base: str) -> tuple[dict[str, str], str]:
    """(prepay answer, buyer token) for a new order; the token finds the order from the buyer side."""
    prepay_id = "wx" + datetime.now(BUSINESS_TZ).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)
    if kind == "native":
        token = "".join(secrets.choice("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789") for _ in range(7))
        return {"code_url": f"weixin://wxpay/bizpayurl?pr={token}"}, token
    if kind == "h5":
        url = f"{public_base}/_buyer/h5?prepay_id={prepay_id}&package={_digits(10)}"
        return {"h5_url": url}, prepay_id
    return {"prepay_id": prepay_id}, prepay_id


def transaction_view(order: dict[str, Any]) -> dict[str, Any]:
    """The query answer (also the TRANSACTION.SUCCESS resource) for an order."""
    view: dict[str, Any] = {
        "appid": order["appid"], "mchid": order["mchid"], "out_trade_no": order["out_trade_no"],
        "trade_state": order["trade_state"], "trade_state_desc": STATE_DESC.get(order["trade_state"], ""),
        "attach": order.get("attach", ""),
    }
    if order["trade_state"] in ("SUCCESS", "REFUND"):
        view.update({
            "transaction_id": order["transaction_id"], "trade_type": order["trade_type"], "bank_type": "OTHERS",
            "success_time": order["success_time"], "payer": {"openid": order["payer_openid"]},
            "amount": {"total": order["total"], "payer_total": order["total"], "currency": "CNY",
                       "payer_currency": "CNY"},
            "promotion_detail": [],
        })
    else:
        view["amount"] = {"payer_currency": "CNY"}
    return view


def expired(order: dict[str, Any]) -> bool:
    value = order.get("time_expire")
    return bool(value) and datetime.fromisoformat(str(value)) <= datetime.now(UTC)


def beijing(now: datetime) -> str:
    """An instant as WeChat Pay writes times: RFC 3339 in Beijing time, whole seconds."""
    return now.astimezone(BUSINESS_TZ).replace(microsecond=0).isoformat()


def mark_paid(order: dict[str, Any], openid: str | None, now: datetime) -> None:
    """The buyer paid at ``now`` (business clock): NOTPAY → SUCCESS. Raises GatewayError for orders that
    cannot be paid."""
    if order["trade_state"] in ("SUCCESS", "REFUND"):
        raise GatewayError(400, "ORDERPAID", "该订单已支付")
    if order["trade_state"] == "CLOSED":
        raise GatewayError(400, "ORDER_CLOSED", "订单已关闭")
    if expired(order):
        raise GatewayError(400, "ORDER_EXPIRED", "订单已过期，请重新下单")
    order["trade_state"] = "SUCCESS"
    order["transaction_id"] = "4200" + now.astimezone(BUSINESS_TZ).strftime("%Y%m%d") + _digits(16)
    order["success_time"] = beijing(now)
    order["payer_openid"] = order.get("payer_openid") or openid or "o" + secrets.token_urlsafe(20)[:27]


def validate_refund(data: dict[str, Any]) -> tuple[str, int, int, str | None]:
    """(out_refund_no, refund, total, notify_url) from a refund body. Raises GatewayError."""
    out_refund_no = _text(data, "out_refund_no", "out_refund_no", 64)
    assert out_refund_no is not None
    if not _OUT_REFUND_NO.match(out_refund_no):
        raise param_error("out_refund_no格式错误", "out_refund_no")
    if not data.get("out_trade_no") and not data.get("transaction_id"):
        raise param_error("transaction_id和out_trade_no必须二选一进行传参", "out_trade_no")
    notify_url = _text(data, "notify_url", "notify_url", 256, required=False)
    if notify_url:
        _check_notify_url(notify_url, "notify_url")
    amount = _obj(data, "amount")
    refund, total = amount.get("refund"), amount.get("total")
    for name, value in (("amount.refund", refund), ("amount.total", total)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise param_error(f"{name}必须为大于0的整数", name)
    if amount.get("currency", "CNY") != "CNY":
        raise param_error("currency仅支持CNY", "amount.currency")
    assert isinstance(refund, int) and isinstance(total, int)
    return out_refund_no, refund, total, notify_url


def new_refund(order: dict[str, Any], out_refund_no: str, refund: int, reason: str | None,
               notify_url: str | None, settle_after: float, now: datetime) -> dict[str, Any]:
    return {
        "mchid": order["mchid"], "out_trade_no": order["out_trade_no"], "transaction_id": order["transaction_id"],
        "out_refund_no": out_refund_no, "refund_id": "50" + _digits(27), "reason": reason,
        "notify_url": notify_url or order["notify_url"], "refund": refund, "total": order["total"],
        "status": "PROCESSING", "create_time": beijing(now), "success_time": None,
        "settle_at": (datetime.now(UTC) + timedelta(seconds=settle_after)).isoformat(),
    }


def refund_view(refund: dict[str, Any]) -> dict[str, Any]:
    view: dict[str, Any] = {
        "refund_id": refund["refund_id"], "out_refund_no": refund["out_refund_no"],
        "transaction_id": refund["transaction_id"], "out_trade_no": refund["out_trade_no"],
        "channel": "ORIGINAL", "user_received_account": "支付用户零钱", "create_time": refund["create_time"],
        "status": refund["status"], "funds_account": "AVAILABLE",
        "amount": {"total": refund["total"], "refund": refund["refund"], "payer_total": refund["total"],
                   "payer_refund": refund["refund"], "settlement_refund": refund["refund"],
                   "settlement_total": refund["total"], "discount_refund": 0, "currency": "CNY",
                   "refund_fee": 0, "from": []},
        "promotion_detail": [],
    }
    if refund["success_time"]:
        view["success_time"] = refund["success_time"]
    return view


def refund_notice(refund: dict[str, Any]) -> dict[str, Any]:
    """The REFUND.* callback resource."""
    return {
        "mchid": refund["mchid"], "out_trade_no": refund["out_trade_no"], "transaction_id": refund["transaction_id"],
        "out_refund_no": refund["out_refund_no"], "refund_id": refund["refund_id"],
        "refund_status": refund["status"], "success_time": refund["success_time"],
        "user_received_account": "支付用户零钱",
        "amount": {"total": refund["total"], "refund": refund["refund"], "payer_total": refund["total"],
                   "payer_refund": refund["refund"]},
    }


def seconds_until_due(refund: dict[str, Any]) -> float:
    """Real seconds until a PROCESSING refund may settle (≤ 0: it may settle now)."""
    return (datetime.fromisoformat(refund["settle_at"]) - datetime.now(UTC)).total_seconds()


def settle_if_due(refund: dict[str, Any], now: datetime) -> bool:
    """PROCESSING → SUCCESS once its (real-time) settle time has passed, stamped ``now`` (business clock);
    True when it changed now."""
    if refund["status"] != "PROCESSING" or seconds_until_due(refund) > 0:
        return False
    refund["status"] = "SUCCESS"
    refund["success_time"] = beijing(now)
    return True
