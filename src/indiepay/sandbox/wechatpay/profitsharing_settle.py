"""The stateful side of profit sharing: finding the transaction, settling what is due, building its book.

Why here and not in the routes: the refund endpoint (:mod:`.routes_v3`) must apply the same book as the
sharing endpoints (:mod:`.routes_profitsharing`), and both must see sharing orders and returns that are
already due as settled — like refunds, they settle in a background task after
``PROFITSHARING_SETTLE_SECONDS / time_factor``, or on the next request that looks at them (so a restarted
sandbox still settles what it left PROCESSING).

Locking: every function that reads amounts and then writes must run under ``state.lock`` (the caller
takes it, around its whole read-check-write). The fault knob is read *before* taking it, since
``state.faults_for`` takes the same lock.
"""

from __future__ import annotations

import asyncio
from typing import Any

from indiepay.sandbox.wechatpay import profitsharing as ps
from indiepay.sandbox.wechatpay.config import PROFITSHARING_SETTLE_SECONDS
from indiepay.sandbox.wechatpay.profitsharing_amounts import (
    Book,
    due,
    finish_return,
    finish_sharing,
    finish_unfreeze,
    seconds_until_due,
)
from indiepay.sandbox.wechatpay.protocol import GatewayError
from indiepay.sandbox.wechatpay.state import SandboxState


def settle_delay(state: SandboxState) -> float:
    return PROFITSHARING_SETTLE_SECONDS / state.config.time_factor


def close_reason(state: SandboxState, mchid: str) -> str:
    """The ``profitsharing_close_reason`` knob (read it before taking ``state.lock``)."""
    return state.faults_for(mchid).profitsharing_close_reason


def find_transaction(state: SandboxState, mchid: str, transaction_id: str) -> dict[str, Any] | None:
    order = state.store.order_by_token(transaction_id)
    if order is None or order["mchid"] != mchid or order.get("transaction_id") != transaction_id:
        return None
    return order


def paid_transaction(state: SandboxState, mchid: str, transaction_id: str) -> dict[str, Any]:
    """The merchant's order paid as ``transaction_id``.

    Raises:
        GatewayError: 404 RESOURCE_NOT_EXISTS (unknown here), 400 INVALID_REQUEST (not paid).
    """
    order = find_transaction(state, mchid, transaction_id)
    if order is None:
        raise GatewayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if order["trade_state"] not in ("SUCCESS", "REFUND"):
        raise GatewayError(400, "INVALID_REQUEST", "订单未支付")
    return order


def book_of(state: SandboxState, order: dict[str, Any], reason: str) -> Book:
    """Settle what is due for the order's transaction, then its book. Caller holds ``state.lock``."""
    settle_due(state, order, reason)
    store, mchid, transaction_id = state.store, order["mchid"], order["transaction_id"]
    return Book.of(order, store.refunds_of(mchid, order["out_trade_no"]), store.sharings_of(mchid, transaction_id),
                   store.returns_of(mchid, transaction_id))


def settle_due(state: SandboxState, order: dict[str, Any], reason: str) -> None:
    """Finish every due return, then every due sharing order of the transaction in creation order (all
    wait the same delay, so an unfreeze settles after the orders placed before it and unfreezes what
    they left). Caller holds ``state.lock``."""
    store, mchid, transaction_id = state.store, order["mchid"], order["transaction_id"]
    for doc in store.returns_of(mchid, transaction_id):
        if due(doc, "result"):
            finish_return(doc, state.clock.now())
            store.put_return(doc)
    sharings = store.sharings_of(mchid, transaction_id)
    for doc in sharings:
        if not due(doc, "state"):
            continue
        now = state.clock.now()
        finish_sharing(doc, lambda kind, account: store.get_receiver(mchid, kind, account) is not None, reason, now)
        if doc["unfreeze"]:
            book = Book.of(order, store.refunds_of(mchid, order["out_trade_no"]), sharings,
                           store.returns_of(mchid, transaction_id))
            finish_unfreeze(doc, ps.unfreeze_entry(mchid, 0, now), book.frozen, now)
        store.put_sharing(doc)


def settle_locked(state: SandboxState, mchid: str, transaction_id: str, reason: str) -> None:
    """Settle what is due for a transaction. Caller holds ``state.lock``."""
    order = find_transaction(state, mchid, transaction_id)
    if order is not None:
        settle_due(state, order, reason)


def settle_transaction(state: SandboxState, mchid: str, transaction_id: str) -> None:
    """Settle what is due for a transaction (takes ``state.lock``)."""
    reason = close_reason(state, mchid)
    with state.lock:
        settle_locked(state, mchid, transaction_id, reason)


async def settle_later(state: SandboxState, mchid: str, transaction_id: str, *, out_order_no: str | None = None,
                       out_return_no: str | None = None) -> None:
    """Settle one sharing order (or return) once due. Waits again if woken early (an event-loop timer
    may fire before the wall-clock settle time); stops if somebody else settled it meanwhile."""
    while True:
        if out_order_no is not None:
            doc, status = state.store.get_sharing(mchid, out_order_no), "state"
        else:
            doc, status = state.store.get_return(mchid, str(out_return_no)), "result"
        if doc is None or doc[status] != "PROCESSING":
            return
        wait = seconds_until_due(doc)
        if wait <= 0:
            settle_transaction(state, mchid, transaction_id)
            return
        await asyncio.sleep(wait)
