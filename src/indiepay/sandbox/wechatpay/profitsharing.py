"""Profit sharing (分账) at the gateway: request validation, the documents it keeps, and its answers.

Why it works this way: a direct merchant that opens an order with ``settle_info.profit_sharing = true``
does not get the paid money at once — WeChat keeps it frozen until the merchant shares parts of it with
receivers it has declared (``receivers/add``) or unfreezes the rest for itself. Sharing is asynchronous:
an order answers ``PROCESSING`` with every receiver ``PENDING`` and is ``FINISHED`` later, each receiver
``SUCCESS`` or ``CLOSED`` with a ``fail_reason``. A merchant receiver may later hand money back
(``return-orders``). The amount rules live in :mod:`.profitsharing_amounts`, the stateful part (lookups,
settlement, its background tasks) in :mod:`.profitsharing_settle`, the endpoints in :mod:`.routes_profitsharing`.
Everything here is plain functions over plain dicts, validated the way the real API validates (400
``PARAM_ERROR`` for a malformed field).

A sharing document keeps the unfreeze line — the merchant's own mchid, "解冻给分账方" — in its receivers
list with an internal ``unfreeze`` flag, so the arithmetic never counts it as shared money.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from typing import Any

from indiepay.sandbox.wechatpay import gateway_keys
from indiepay.sandbox.wechatpay.orders import beijing
from indiepay.sandbox.wechatpay.profitsharing_amounts import settle_at
from indiepay.sandbox.wechatpay.protocol import GatewayError, param_error

RECEIVER_TYPES = ("MERCHANT_ID", "PERSONAL_OPENID")
RELATION_TYPES = frozenset({"STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER", "BRAND", "DISTRIBUTOR",
                            "USER", "SUPPLIER", "CUSTOM"})
MAX_RECEIVERS = 50
UNFREEZE_DESCRIPTION = "解冻给分账方"
_OUT_NO = re.compile(r"^[0-9A-Za-z_\-|*@]{1,64}$")
_MCHID = re.compile(r"^[0-9]{8,32}$")
_INTERNAL = {"unfreeze"}


def _digits(count: int) -> str:
    return "".join(secrets.choice("0123456789") for _ in range(count))


def _missing(path: str) -> GatewayError:
    return param_error(f"输入源“/body/{path}”映射到字段“{path}”必填性规则校验失败，此字段为必填项", path)


def text(data: dict[str, Any], name: str, max_len: int, *, path: str | None = None,
         required: bool = True) -> str | None:
    """A string field of 1..``max_len`` characters (``None`` when optional and absent)."""
    path = path or name
    value = data.get(name)
    if value is None:
        if required:
            raise _missing(path)
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise param_error(f"字段“{path}”格式错误或长度不符（1-{max_len}个字符）", path)
    return value


def _required_text(data: dict[str, Any], name: str, max_len: int, path: str | None = None) -> str:
    value = text(data, name, max_len, path=path)
    assert value is not None
    return value


def out_no(data: dict[str, Any], name: str) -> str:
    """A merchant-side number (``out_order_no``, ``out_return_no``): 1-64 of ``[0-9A-Za-z_-|*@]``."""
    value = _required_text(data, name, 64)
    if not _OUT_NO.match(value):
        raise param_error(f"{name}须为1-64位数字、大小写字母或_-|*@", name)
    return value


def _amount(data: dict[str, Any], path: str) -> int:
    value = data.get("amount")
    if value is None:
        raise _missing(path)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise param_error(f"{path}必须为大于0的整数（单位：分）", path)
    return value


def receiver_key(data: dict[str, Any], prefix: str = "") -> tuple[str, str]:
    """(type, account) of a receiver: a merchant id is 8-32 digits, an openid 1-64 characters."""
    kind = _required_text(data, "type", 32, path=f"{prefix}type")
    if kind not in RECEIVER_TYPES:
        raise param_error(f"{prefix}type须为MERCHANT_ID或PERSONAL_OPENID", f"{prefix}type")
    account = _required_text(data, "account", 64, path=f"{prefix}account")
    if kind == "MERCHANT_ID" and not _MCHID.match(account):
        raise param_error("分账接收方类型为MERCHANT_ID时，account须为8-32位数字商户号", f"{prefix}account")
    return kind, account


def check_appid(data: dict[str, Any], merchant: dict[str, Any]) -> None:
    """The body's ``appid`` must be one bound to the merchant (the sandbox binds exactly one)."""
    if _required_text(data, "appid", 32) != merchant["appid"]:
        raise GatewayError(400, "INVALID_REQUEST", "appid和mch_id不匹配，请检查后再试")


def check_not_self(merchant: dict[str, Any], kind: str, account: str) -> None:
    """A merchant never shares to itself: its own mchid in a receivers list is the unfreeze line."""
    if kind == "MERCHANT_ID" and account == merchant["mchid"]:
        raise GatewayError(400, "INVALID_REQUEST", "分账接收方不能是分账方本身")


def open_name(merchant: dict[str, Any], serial: str | None, ciphertext: str, path: str = "name") -> str:
    """Decrypt an encrypted ``name`` with the gateway key the ``Wechatpay-Serial`` header names.

    Raises:
        GatewayError: 400 PARAM_ERROR when the header is missing, names no key of this merchant's
            gateway, or the ciphertext does not open under it.
    """
    key = gateway_keys.platform_private_key(merchant, serial) if serial else None
    if key is None:
        raise param_error("Wechatpay-Serial未指定或不是有效的微信支付平台证书序列号/公钥ID", path)
    name = gateway_keys.decrypt_sensitive(key, ciphertext)
    if not name:
        raise param_error(f"{path}解密失败，请使用微信支付平台公钥以RSAES-OAEP加密", path)
    return name


def validate_receiver(data: dict[str, Any]) -> dict[str, Any]:
    """The receiver a ``receivers/add`` body declares (``name`` still encrypted, or ``None``)."""
    kind, account = receiver_key(data)
    relation = _required_text(data, "relation_type", 32)
    if relation not in RELATION_TYPES:
        raise param_error("relation_type取值不在枚举范围内", "relation_type")
    custom = None
    if relation == "CUSTOM":
        custom = text(data, "custom_relation", 10)
        if custom is None:
            raise param_error("relation_type为CUSTOM时custom_relation必填（不超过10个字）", "custom_relation")
    name = text(data, "name", 10240, required=kind == "MERCHANT_ID")
    return {"type": kind, "account": account, "relation_type": relation, "custom_relation": custom, "name": name}


def receiver_view(receiver: dict[str, Any]) -> dict[str, Any]:
    """The ``receivers/add`` answer: what was declared, never the name."""
    view = {"type": receiver["type"], "account": receiver["account"], "relation_type": receiver["relation_type"]}
    if receiver.get("custom_relation"):
        view["custom_relation"] = receiver["custom_relation"]
    return view


def validate_order(data: dict[str, Any]) -> dict[str, Any]:
    """An ``orders`` body as ``{transaction_id, out_order_no, receivers, unfreeze_unsplit}``; each receiver
    ``{type, account, name (encrypted or None), amount, description}``."""
    transaction_id = _required_text(data, "transaction_id", 32)
    out_order_no = out_no(data, "out_order_no")
    unfreeze = data.get("unfreeze_unsplit")
    if unfreeze is None:
        raise _missing("unfreeze_unsplit")
    if not isinstance(unfreeze, bool):
        raise param_error("unfreeze_unsplit须为布尔值", "unfreeze_unsplit")
    items = data.get("receivers")
    if items is None:
        items = []
    if not isinstance(items, list) or len(items) > MAX_RECEIVERS:
        raise param_error(f"receivers须为数组，最多{MAX_RECEIVERS}个分账接收方", "receivers")
    if not items and not unfreeze:
        raise param_error("receivers不能为空（仅解冻剩余资金时可为空）", "receivers")
    receivers = []
    for index, item in enumerate(items):
        prefix = f"receivers[{index}]."
        if not isinstance(item, dict):
            raise param_error(f"receivers[{index}]须为对象", f"receivers[{index}]")
        kind, account = receiver_key(item, prefix)
        receivers.append({"type": kind, "account": account, "amount": _amount(item, f"{prefix}amount"),
                          "description": _required_text(item, "description", 80, path=f"{prefix}description"),
                          "name": text(item, "name", 10240, path=f"{prefix}name", required=False)})
    return {"transaction_id": transaction_id, "out_order_no": out_order_no, "receivers": receivers,
            "unfreeze_unsplit": unfreeze}


def validate_unfreeze(data: dict[str, Any]) -> tuple[str, str, str]:
    """(transaction_id, out_order_no, description) of an ``orders/unfreeze`` body."""
    return (_required_text(data, "transaction_id", 32), out_no(data, "out_order_no"),
            _required_text(data, "description", 80))


def validate_return(data: dict[str, Any]) -> dict[str, Any]:
    """A ``return-orders`` body; one of ``order_id`` / ``out_order_no`` names the sharing order."""
    order_id = text(data, "order_id", 64, required=False)
    out_order_no = out_no(data, "out_order_no") if data.get("out_order_no") is not None else None
    if order_id is None and out_order_no is None:
        raise param_error("order_id和out_order_no必须二选一进行传参", "out_order_no")
    return_mchid = _required_text(data, "return_mchid", 32)
    if not _MCHID.match(return_mchid):
        raise param_error("return_mchid须为8-32位数字商户号", "return_mchid")
    return {"order_id": order_id, "out_order_no": out_order_no, "out_return_no": out_no(data, "out_return_no"),
            "return_mchid": return_mchid, "amount": _amount(data, "amount"),
            "description": _required_text(data, "description", 80)}


def new_entry(kind: str, account: str, amount: int, description: str, now: datetime,
              *, unfreeze: bool = False) -> dict[str, Any]:
    """One line of a sharing order, ``PENDING`` until the order finishes."""
    return {"amount": amount, "description": description, "type": kind, "account": account, "result": "PENDING",
            "detail_id": "36" + _digits(27), "create_time": beijing(now), "unfreeze": unfreeze}


def unfreeze_entry(mchid: str, amount: int, now: datetime) -> dict[str, Any]:
    """The line that hands what is left unsplit to the merchant (``mchid``) itself."""
    return new_entry("MERCHANT_ID", mchid, amount, UNFREEZE_DESCRIPTION, now, unfreeze=True)


def new_sharing(merchant: dict[str, Any], transaction_id: str, out_order_no: str, entries: list[dict[str, Any]],
                *, unfreeze: bool, settle_after: float, now: datetime,
                description: str | None = None) -> dict[str, Any]:
    """A sharing order document. ``unfreeze``: finishing it unfreezes the rest and ends sharing for the
    transaction (``unfreeze_unsplit`` or the ``orders/unfreeze`` endpoint)."""
    return {"mchid": merchant["mchid"], "transaction_id": transaction_id, "out_order_no": out_order_no,
            "order_id": "30" + _digits(26), "state": "PROCESSING", "receivers": entries, "unfreeze": unfreeze,
            "description": description, "create_time": beijing(now), "finish_time": None,
            "settle_at": settle_at(settle_after)}


def sharing_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``orders``, ``orders/unfreeze`` and the order query."""
    receivers = []
    for entry in doc["receivers"]:
        line = {k: v for k, v in entry.items() if k not in _INTERNAL and v is not None}
        receivers.append(line)
    return {"transaction_id": doc["transaction_id"], "out_order_no": doc["out_order_no"], "order_id": doc["order_id"],
            "state": doc["state"], "receivers": receivers}


def new_return(sharing: dict[str, Any], body: dict[str, Any], *, settle_after: float, now: datetime) -> dict[str, Any]:
    """A return document for a validated ``return-orders`` body against its sharing order."""
    return {"mchid": sharing["mchid"], "transaction_id": sharing["transaction_id"],
            "order_id": sharing["order_id"], "out_order_no": sharing["out_order_no"],
            "out_return_no": body["out_return_no"], "return_id": "30" + _digits(26),
            "return_mchid": body["return_mchid"], "amount": body["amount"], "description": body["description"],
            "result": "PROCESSING", "fail_reason": None, "create_time": beijing(now), "finish_time": None,
            "settle_at": settle_at(settle_after)}


def return_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: doc[k] for k in ("order_id", "out_order_no", "out_return_no", "return_id", "return_mchid", "amount",
                                "description", "result", "create_time")}
    for optional in ("fail_reason", "finish_time"):
        if doc.get(optional):
            view[optional] = doc[optional]
    return view
