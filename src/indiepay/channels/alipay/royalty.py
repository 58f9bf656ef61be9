"""Alipay profit sharing (交易分账, "royalty") for one app: bindings, settles, their query, what is left.

The wire facts that matter here:

* a trade can only be shared from its frozen money if it was created with
  ``extend_params.royalty_freeze = "true"``;
* each receiver is bound first (``alipay.trade.royalty.relation.bind``);
* ``alipay.trade.order.settle`` shares; the answer carries only ``settle_no``, so the details (each
  ``SUCCESS`` / ``FAIL`` / ``PROCESSING``) come from ``alipay.trade.order.settle.query``. The same
  ``out_request_no`` is the same settle. ``extend_params.royalty_finish = "true"`` unfreezes what is left
  afterwards (an ``unfreeze`` detail);
* ``alipay.trade.order.onsettle.query`` tells what is still unsettled;
* Alipay takes shares back only inside a refund (``refund_royalty_parameters``), not on their own, so a
  return is refused here with ``RETURN_UNSUPPORTED``.
"""

from __future__ import annotations

import secrets
from dataclasses import replace
from typing import Any

from indiepay.channels.alipay.client import AlipayClient, AlipayResponse, raise_for_code
from indiepay.channels.base import TerminalChannelError, UnknownOutcomeError
from indiepay.channels.sharing import (
    ChannelReturn,
    ChannelSharing,
    ReceiverType,
    ReturnRequest,
    SharingReceiver,
    SharingRequest,
    SharingState,
    TransferOutcome,
    TransferResult,
)
from indiepay.core.errors import InvalidRequest
from indiepay.core.money import fen_to_yuan, yuan_to_fen

RECEIVER_TYPES = {ReceiverType.ALIPAY_USER_ID: "userId", ReceiverType.ALIPAY_LOGIN_NAME: "loginName",
                  ReceiverType.ALIPAY_OPEN_ID: "openId"}
DETAIL_RESULTS = {"SUCCESS": TransferResult.SUCCEEDED, "FAIL": TransferResult.CLOSED,
                  "PROCESSING": TransferResult.PENDING}
SETTLE_NOT_EXIST = "ACQ.TRADE_SETTLE_NOT_EXIST"


def _wire_type(receiver_type: ReceiverType) -> str:
    wire = RECEIVER_TYPES.get(receiver_type)
    if wire is None:
        raise TerminalChannelError(f"Alipay cannot share to a {receiver_type} receiver",
                                   channel_code="RECEIVER_TYPE_UNSUPPORTED")
    return wire


def _binding(method: str, client: AlipayClient, receiver: SharingReceiver) -> None:
    entry: dict[str, Any] = {"type": _wire_type(receiver.type), "account": receiver.account,
                             "memo": receiver.relation[:64]}
    if receiver.name:
        entry["name"] = receiver.name
    biz = {"out_request_no": secrets.token_hex(16), "receiver_list": [entry]}
    raise_for_code(client.call(method, biz, mutating=True), mutating=True)


def bind(client: AlipayClient, receiver: SharingReceiver) -> None:
    """``royalty.relation.bind`` (binding again is harmless: a retry gets a new request number)."""
    _binding("alipay.trade.royalty.relation.bind", client, receiver)


def unbind(client: AlipayClient, receiver: SharingReceiver) -> None:
    _binding("alipay.trade.royalty.relation.unbind", client, receiver)


def settle(client: AlipayClient, request: SharingRequest) -> ChannelSharing:
    """``order.settle`` then ``order.settle.query`` for the details. A settle Alipay accepted but whose
    details cannot be read right now is reported PROCESSING (the sync job asks again)."""
    biz: dict[str, Any] = {
        "out_request_no": request.out_order_no,
        "trade_no": request.channel_trade_no,
        "royalty_parameters": [{"royalty_type": "transfer", "trans_in_type": _wire_type(t.type),
                                "trans_in": t.account, "amount": fen_to_yuan(t.amount),
                                "desc": t.description[:128] or "分账"} for t in request.transfers],
    }
    if request.finish:
        biz["extend_params"] = {"royalty_finish": "true"}
    response = client.call("alipay.trade.order.settle", biz, mutating=True)
    raise_for_code(response, mutating=True)
    settle_no = response.field("settle_no")
    found = query(client, request.channel_trade_no, request.out_order_no)
    if found.state == SharingState.NOT_FOUND:
        return ChannelSharing(out_order_no=request.out_order_no, state=SharingState.PROCESSING,
                              raw_state="ACCEPTED", channel_order_id=settle_no)
    return replace(found, channel_order_id=found.channel_order_id or settle_no)  # the query does not name it


def query(client: AlipayClient, channel_trade_no: str, out_order_no: str) -> ChannelSharing:
    """``order.settle.query`` by request number and trade; FINISHED once no detail is still running."""
    response = client.call("alipay.trade.order.settle.query",
                           {"out_request_no": out_order_no, "trade_no": channel_trade_no}, mutating=False)
    if response.sub_code == SETTLE_NOT_EXIST:
        return ChannelSharing(out_order_no=out_order_no, state=SharingState.NOT_FOUND, raw_state=SETTLE_NOT_EXIST)
    raise_for_code(response, mutating=False)
    outcomes = tuple(_outcome(item) for item in _details(response))
    running = any(o.result == TransferResult.PENDING for o in outcomes)
    return ChannelSharing(out_order_no=response.field("out_request_no") or out_order_no,
                          state=SharingState.PROCESSING if running else SharingState.FINISHED,
                          raw_state="PROCESSING" if running else "DONE",
                          channel_order_id=response.field("settle_no"), transfers=outcomes)


def unsettled_amount(client: AlipayClient, channel_trade_no: str) -> int:
    response = client.call("alipay.trade.order.onsettle.query", {"trade_no": channel_trade_no}, mutating=False)
    raise_for_code(response, mutating=False)
    return _fen(response.field("unsettled_amount"), "unsettled_amount")


def no_returns(request: ReturnRequest | str) -> ChannelReturn:
    raise TerminalChannelError("Alipay takes shares back only within a refund", channel_code="RETURN_UNSUPPORTED")


def _details(response: AlipayResponse) -> list[dict[str, Any]]:
    details = response.body.get("royalty_detail_list") or []
    if not isinstance(details, list) or not all(isinstance(d, dict) for d in details):
        raise UnknownOutcomeError("alipay.trade.order.settle.query: malformed royalty_detail_list")
    return details


def _outcome(item: dict[str, Any]) -> TransferOutcome:
    """A detail in neutral terms; an unknown state reads as still running (never guessed as failed)."""
    return TransferOutcome(account=str(item.get("trans_in") or ""),
                           amount=_fen(item.get("amount"), "amount"),
                           result=DETAIL_RESULTS.get(str(item.get("state") or ""), TransferResult.PENDING),
                           fail_reason=str(item["error_code"]) if item.get("error_code") else None,
                           detail_id=str(item["detail_id"]) if item.get("detail_id") else None,
                           unfreeze=item.get("operation_type") == "unfreeze")


def _fen(value: Any, what: str) -> int:
    try:
        return yuan_to_fen(str(value))
    except InvalidRequest as exc:
        raise UnknownOutcomeError(f"malformed {what} {value!r} from Alipay") from exc
