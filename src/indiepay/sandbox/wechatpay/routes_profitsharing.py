"""The real v3 profit-sharing endpoints (direct merchants): receivers, orders, unfreeze, returns, amounts.

Each handler runs inside :func:`~.routes_v3.api_call` like every other v3 endpoint (signature checked,
``fail_with_500`` / ``hang_seconds`` applied, every answer signed). The rules are in :mod:`.profitsharing`
and :mod:`.profitsharing_amounts`; settlement and the transaction's book in :mod:`.profitsharing_settle`.
A repeated ``out_order_no`` / ``out_return_no`` returns what the first request created, whatever the new
body says (同一分账单号多次请求等同一次). Checks that spend money run under ``state.lock``, so concurrent
orders, returns and refunds cannot together exceed what the transaction holds.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from indiepay.sandbox.wechatpay import profitsharing as ps
from indiepay.sandbox.wechatpay import profitsharing_settle as settle
from indiepay.sandbox.wechatpay.orders import beijing
from indiepay.sandbox.wechatpay.profitsharing_amounts import returnable
from indiepay.sandbox.wechatpay.protocol import Authenticated, GatewayError
from indiepay.sandbox.wechatpay.routes_v3 import api_call
from indiepay.sandbox.wechatpay.state import SandboxState

Answer = tuple[int, dict[str, Any] | None]


def _not_found(what: str) -> GatewayError:
    return GatewayError(404, "RESOURCE_NOT_EXISTS", f"{what}不存在")


def _query_param(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise GatewayError(400, "PARAM_ERROR", f"输入源“/query/{name}”映射到字段“{name}”必填性规则校验失败",
                           {"location": "query", "field": name})
    return value


def _check_names(request: Request, merchant: dict[str, Any], receivers: list[dict[str, Any]]) -> None:
    """Each receiver is someone else, and a name sent along must open under the named gateway key."""
    serial = request.headers.get("wechatpay-serial")
    for index, line in enumerate(receivers):
        ps.check_not_self(merchant, line["type"], line["account"])
        if line["name"] is not None:
            ps.open_name(merchant, serial, line["name"], f"receivers[{index}].name")


def _replay(state: SandboxState, doc: dict[str, Any], reason: str) -> dict[str, Any]:
    """An existing sharing order as it stands now (settled if due). Caller holds ``state.lock``."""
    settle.settle_locked(state, doc["mchid"], doc["transaction_id"], reason)
    current = state.store.get_sharing(doc["mchid"], doc["out_order_no"])
    return ps.sharing_view(current or doc)


def register_profitsharing(app: FastAPI, state: SandboxState) -> None:
    store = state.store

    @app.post("/v3/profitsharing/receivers/add", include_in_schema=False)
    async def add_receiver(request: Request) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            merchant = auth.merchant
            receiver = ps.validate_receiver(auth.data)
            ps.check_appid(auth.data, merchant)
            ps.check_not_self(merchant, receiver["type"], receiver["account"])
            if receiver["name"] is not None:
                receiver["name"] = ps.open_name(merchant, request.headers.get("wechatpay-serial"), receiver["name"])
                other = store.get_merchant(receiver["account"]) if receiver["type"] == "MERCHANT_ID" else None
                if other is not None and other.get("name") and other["name"] != receiver["name"]:
                    raise GatewayError(400, "INVALID_REQUEST", "分账接收方全称不匹配")
            doc = {**receiver, "mchid": merchant["mchid"], "updated_at": beijing(state.clock.now())}
            store.put_receiver(doc)
            return 200, ps.receiver_view(doc)

        return await api_call(state, request, handle)

    @app.post("/v3/profitsharing/receivers/delete", include_in_schema=False)
    async def delete_receiver(request: Request) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            kind, account = ps.receiver_key(auth.data)
            ps.check_appid(auth.data, auth.merchant)
            store.delete_receiver(auth.merchant["mchid"], kind, account)
            return 200, {"type": kind, "account": account}

        return await api_call(state, request, handle)

    @app.post("/v3/profitsharing/orders", include_in_schema=False)
    async def create_order(request: Request) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            merchant, mchid = auth.merchant, auth.merchant["mchid"]
            body = ps.validate_order(auth.data)
            ps.check_appid(auth.data, merchant)
            _check_names(request, merchant, body["receivers"])
            reason = settle.close_reason(state, mchid)
            with state.lock:
                existing = store.get_sharing(mchid, body["out_order_no"])
                if existing is not None:
                    return 200, _replay(state, existing, reason)
                order = settle.paid_transaction(state, mchid, body["transaction_id"])
                settle.book_of(state, order, reason).check_share(sum(r["amount"] for r in body["receivers"]))
                now = state.clock.now()
                entries = [ps.new_entry(r["type"], r["account"], r["amount"], r["description"], now)
                           for r in body["receivers"]]
                doc = ps.new_sharing(merchant, body["transaction_id"], body["out_order_no"], entries,
                                     unfreeze=body["unfreeze_unsplit"], settle_after=settle.settle_delay(state),
                                     now=now)
                store.put_sharing(doc)
            state.spawn(settle.settle_later(state, mchid, doc["transaction_id"], out_order_no=doc["out_order_no"]),
                        f"settle profit sharing {doc['out_order_no']}")
            return 200, ps.sharing_view(doc)

        return await api_call(state, request, handle)

    @app.post("/v3/profitsharing/orders/unfreeze", include_in_schema=False)
    async def unfreeze(request: Request) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            merchant, mchid = auth.merchant, auth.merchant["mchid"]
            transaction_id, out_order_no, description = ps.validate_unfreeze(auth.data)
            reason = settle.close_reason(state, mchid)
            with state.lock:
                existing = store.get_sharing(mchid, out_order_no)
                if existing is not None:
                    return 200, _replay(state, existing, reason)
                order = settle.paid_transaction(state, mchid, transaction_id)
                book = settle.book_of(state, order, reason)
                book.check_share(0)
                now = state.clock.now()
                entry = ps.unfreeze_entry(mchid, book.frozen, now)
                doc = ps.new_sharing(merchant, transaction_id, out_order_no, [entry], unfreeze=True,
                                     settle_after=settle.settle_delay(state), now=now, description=description)
                store.put_sharing(doc)
            state.spawn(settle.settle_later(state, mchid, transaction_id, out_order_no=out_order_no),
                        f"settle unfreeze {out_order_no}")
            return 200, ps.sharing_view(doc)

        return await api_call(state, request, handle)

    @app.get("/v3/profitsharing/orders/{out_order_no}", include_in_schema=False)
    async def query_order(request: Request, out_order_no: str) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            transaction_id = _query_param(request, "transaction_id")
            reason = settle.close_reason(state, auth.merchant["mchid"])
            with state.lock:
                doc = store.get_sharing(auth.merchant["mchid"], out_order_no)
                if doc is None or doc["transaction_id"] != transaction_id:
                    raise _not_found("分账单")
                return 200, _replay(state, doc, reason)

        return await api_call(state, request, handle)

    @app.post("/v3/profitsharing/return-orders", include_in_schema=False)
    async def create_return(request: Request) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            mchid = auth.merchant["mchid"]
            body = ps.validate_return(auth.data)
            reason = settle.close_reason(state, mchid)
            with state.lock:
                existing = store.get_return(mchid, body["out_return_no"])
                if existing is not None:
                    settle.settle_locked(state, mchid, existing["transaction_id"], reason)
                    return 200, ps.return_view(store.get_return(mchid, body["out_return_no"]) or existing)
                sharing = (store.get_sharing(mchid, body["out_order_no"]) if body["out_order_no"]
                           else store.sharing_by_id(mchid, str(body["order_id"])))
                if sharing is None or body["order_id"] not in (None, sharing["order_id"]):
                    raise _not_found("分账单")
                settle.settle_locked(state, mchid, sharing["transaction_id"], reason)
                sharing = store.get_sharing(mchid, sharing["out_order_no"]) or sharing
                left = returnable(sharing, body["return_mchid"], store.returns_of(mchid, sharing["transaction_id"]))
                if left is None:
                    raise GatewayError(400, "INVALID_REQUEST", "回退商户不是该分账单中分账成功的商户接收方")
                if body["amount"] > left:
                    raise GatewayError(403, "NOT_ENOUGH", "回退金额不足")
                doc = ps.new_return(sharing, body, settle_after=settle.settle_delay(state), now=state.clock.now())
                store.put_return(doc)
            state.spawn(settle.settle_later(state, mchid, doc["transaction_id"], out_return_no=doc["out_return_no"]),
                        f"settle profit-sharing return {doc['out_return_no']}")
            return 200, ps.return_view(doc)

        return await api_call(state, request, handle)

    @app.get("/v3/profitsharing/return-orders/{out_return_no}", include_in_schema=False)
    async def query_return(request: Request, out_return_no: str) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            mchid = auth.merchant["mchid"]
            out_order_no = _query_param(request, "out_order_no")
            doc = store.get_return(mchid, out_return_no)
            if doc is None or doc["out_order_no"] != out_order_no:
                raise _not_found("回退单")
            settle.settle_transaction(state, mchid, doc["transaction_id"])
            return 200, ps.return_view(store.get_return(mchid, out_return_no) or doc)

        return await api_call(state, request, handle)

    @app.get("/v3/profitsharing/transactions/{transaction_id}/amounts", include_in_schema=False)
    async def amounts(request: Request, transaction_id: str) -> Response:
        async def handle(auth: Authenticated) -> Answer:
            mchid = auth.merchant["mchid"]
            reason = settle.close_reason(state, mchid)
            with state.lock:
                order = settle.paid_transaction(state, mchid, transaction_id)
                unsplit = settle.book_of(state, order, reason).unsplit
            return 200, {"transaction_id": transaction_id, "unsplit_amount": unsplit}

        return await api_call(state, request, handle)

