"""WeChat Pay v3 profit sharing (分账) for a direct merchant: receivers, orders, unfreeze, returns.

The wire facts that matter here:

* an order can only be shared if it was opened with ``settle_info.profit_sharing = true``; its money
  stays frozen at WeChat until shared or unfrozen;
* ``POST /v3/profitsharing/orders`` is asynchronous: it answers ``PROCESSING`` and each receiver
  ``PENDING``; the query by ``out_order_no`` (with ``transaction_id``) tells the end — ``FINISHED``, each
  receiver ``SUCCESS`` or ``CLOSED`` with a ``fail_reason``. The same ``out_order_no`` is the same order;
* ``unfreeze_unsplit`` (or ``/orders/unfreeze``) hands the rest to the merchant: the answer lists it as a
  receiver entry carrying the merchant's *own* mchid;
* a merchant receiver's name is encrypted (RSA-OAEP) under WeChat Pay's platform key, named in
  ``Wechatpay-Serial``;
* returns (``return-orders``) take a share back from a merchant receiver, again asynchronously.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from indiepay.channels.base import TerminalChannelError, UnknownOutcomeError
from indiepay.channels.sharing import (
    ChannelReturn,
    ChannelSharing,
    ReceiverType,
    ReturnRequest,
    ReturnState,
    SharingReceiver,
    SharingRequest,
    SharingState,
    TransferOutcome,
    TransferResult,
)
from indiepay.channels.wechatpay import signing
from indiepay.channels.wechatpay.client import WechatPayClient

RECEIVER_TYPES = {ReceiverType.WECHAT_MERCHANT: "MERCHANT_ID", ReceiverType.WECHAT_OPENID: "PERSONAL_OPENID"}
ORDER_STATES = {"PROCESSING": SharingState.PROCESSING, "FINISHED": SharingState.FINISHED}
TRANSFER_RESULTS = {"PENDING": TransferResult.PENDING, "SUCCESS": TransferResult.SUCCEEDED,
                    "CLOSED": TransferResult.CLOSED}
RETURN_STATES = {"PROCESSING": ReturnState.PROCESSING, "SUCCESS": ReturnState.SUCCEEDED,
                 "FAILED": ReturnState.FAILED}
RELATION_TYPES = frozenset({"STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER", "BRAND", "DISTRIBUTOR",
                            "USER", "SUPPLIER", "CUSTOM"})


def _wire_type(receiver_type: ReceiverType) -> str:
    wire = RECEIVER_TYPES.get(receiver_type)
    if wire is None:
        raise TerminalChannelError(f"WeChat Pay cannot share to a {receiver_type} receiver",
                                   channel_code="RECEIVER_TYPE_UNSUPPORTED")
    return wire


def add_receiver(client: WechatPayClient, appid: str, receiver: SharingReceiver) -> None:
    """``receivers/add``; the name (required for a merchant receiver) goes encrypted."""
    relation = receiver.relation.upper()
    body: dict[str, Any] = {"appid": appid, "type": _wire_type(receiver.type), "account": receiver.account,
                            "relation_type": relation if relation in RELATION_TYPES else "CUSTOM"}
    if body["relation_type"] == "CUSTOM":
        body["custom_relation"] = receiver.relation[:10]
    serial: str | None = None
    if receiver.name:
        serial, key = client.encryption_key()
        body["name"] = signing.encrypt_sensitive(key, receiver.name)
    client.call("POST", "/v3/profitsharing/receivers/add", body=body, mutating=True, wechatpay_serial=serial)


def remove_receiver(client: WechatPayClient, appid: str, receiver: SharingReceiver) -> None:
    """``receivers/delete`` (WeChat answers 200 for a receiver it does not have)."""
    body = {"appid": appid, "type": _wire_type(receiver.type), "account": receiver.account}
    client.call("POST", "/v3/profitsharing/receivers/delete", body=body, mutating=True)


def share(client: WechatPayClient, appid: str, request: SharingRequest) -> ChannelSharing:
    """``orders`` (with ``unfreeze_unsplit`` = finish), or ``orders/unfreeze`` when there is nothing to
    share and only the rest is to be unfrozen."""
    if not request.transfers:
        if not request.finish:
            raise TerminalChannelError("a sharing order needs receivers or finish", channel_code="PARAM_ERROR")
        body: dict[str, Any] = {"transaction_id": request.channel_trade_no, "out_order_no": request.out_order_no,
                                "description": request.description[:80] or "解冻全部剩余资金"}
        data = client.call("POST", "/v3/profitsharing/orders/unfreeze", body=body, mutating=True).data
        return sharing_from_wechat(data, client.mchid)
    body = {
        "appid": appid,
        "transaction_id": request.channel_trade_no,
        "out_order_no": request.out_order_no,
        "receivers": [{"type": _wire_type(t.type), "account": t.account, "amount": t.amount,
                       "description": t.description[:80] or "分账"} for t in request.transfers],
        "unfreeze_unsplit": request.finish,
    }
    data = client.call("POST", "/v3/profitsharing/orders", body=body, mutating=True).data
    return sharing_from_wechat(data, client.mchid)


def _get_unless_missing(client: WechatPayClient, path: str, query: dict[str, str]) -> dict[str, Any] | str:
    """The answer of a query, or the gateway's code when it has no such thing (404)."""
    try:
        return client.call("GET", path, query=query, mutating=False).data
    except TerminalChannelError as exc:
        if exc.http_status == 404:
            return exc.channel_code or "RESOURCE_NOT_EXISTS"
        raise


def query(client: WechatPayClient, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
    """``GET orders/{out_order_no}?transaction_id=``; 404 → NOT_FOUND."""
    found = _get_unless_missing(client, f"/v3/profitsharing/orders/{quote(out_order_no, safe='')}",
                                {"transaction_id": channel_trade_no})
    if isinstance(found, str):
        return ChannelSharing(out_order_no=out_order_no, state=SharingState.NOT_FOUND, raw_state=found)
    return sharing_from_wechat(found, client.mchid)


def return_share(client: WechatPayClient, request: ReturnRequest) -> ChannelReturn:
    body = {"out_order_no": request.out_order_no, "out_return_no": request.out_return_no,
            "return_mchid": request.receiver_account, "amount": request.amount,
            "description": request.description[:80] or "分账回退"}
    data = client.call("POST", "/v3/profitsharing/return-orders", body=body, mutating=True).data
    return return_from_wechat(data)


def query_return(client: WechatPayClient, out_order_no: str, out_return_no: str) -> ChannelReturn:
    """``GET return-orders/{out_return_no}?out_order_no=``; 404 → NOT_FOUND."""
    found = _get_unless_missing(client, f"/v3/profitsharing/return-orders/{quote(out_return_no, safe='')}",
                                {"out_order_no": out_order_no})
    if isinstance(found, str):
        return ChannelReturn(out_return_no=out_return_no, state=ReturnState.NOT_FOUND, raw_state=found)
    return return_from_wechat(found)


def unsplit_amount(client: WechatPayClient, channel_trade_no: str) -> int:
    data = client.call("GET", f"/v3/profitsharing/transactions/{quote(channel_trade_no, safe='')}/amounts",
                       mutating=False).data
    return _int(data, "unsplit_amount")


def sharing_from_wechat(data: dict[str, Any], own_mchid: str) -> ChannelSharing:
    """An order answer as neutral terms. An unknown state or result is kept raw and read as still
    running: guessing "closed" could report money as not shared that was."""
    raw_state = str(data.get("state") or "")
    outcomes = []
    for item in data.get("receivers") or []:
        if not isinstance(item, dict):
            raise UnknownOutcomeError("WeChat Pay sharing receiver is not an object")
        account = str(item.get("account") or "")
        outcomes.append(TransferOutcome(
            account=account, amount=_int(item, "amount"),
            result=TRANSFER_RESULTS.get(str(item.get("result") or ""), TransferResult.PENDING),
            fail_reason=str(item["fail_reason"]) if item.get("fail_reason") else None,
            detail_id=str(item["detail_id"]) if item.get("detail_id") else None,
            # a merchant cannot be its own receiver: its own mchid is the unfreeze line
            unfreeze=item.get("type") == "MERCHANT_ID" and account == own_mchid,
        ))
    return ChannelSharing(out_order_no=str(data.get("out_order_no") or ""),
                          state=ORDER_STATES.get(raw_state, SharingState.PROCESSING), raw_state=raw_state,
                          channel_order_id=str(data["order_id"]) if data.get("order_id") else None,
                          transfers=tuple(outcomes))


def return_from_wechat(data: dict[str, Any]) -> ChannelReturn:
    raw = str(data.get("result") or "")
    return ChannelReturn(out_return_no=str(data.get("out_return_no") or ""),
                         state=RETURN_STATES.get(raw, ReturnState.PROCESSING), raw_state=raw,
                         amount=_int(data, "amount") if "amount" in data else None,
                         fail_reason=str(data["fail_reason"]) if data.get("fail_reason") else None,
                         channel_return_id=str(data["return_id"]) if data.get("return_id") else None)


def _int(data: dict[str, Any], name: str) -> int:
    value = data.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise UnknownOutcomeError(f"WeChat Pay answer has no valid {name}")
    return value
