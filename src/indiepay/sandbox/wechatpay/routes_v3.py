"""The real v3 endpoints: prepay (native / jsapi / h5), query, close, refund, refund query, certificates.

Each handler runs inside :func:`api_call`, which authenticates the request signature, applies the
merchant's ``fail_with_500`` and ``hang_seconds`` knobs, and signs whatever comes back (errors too). A refund
of an order opened for profit sharing may only take what was not shared away (:mod:`.profitsharing_amounts`);
the profit-sharing endpoints themselves are in :mod:`.routes_profitsharing`.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from indiepay.channels.wechatpay import signing
from indiepay.sandbox.wechatpay import orders
from indiepay.sandbox.wechatpay import profitsharing_settle as sharing
from indiepay.sandbox.wechatpay.callbacks import send_callback
from indiepay.sandbox.wechatpay.config import REFUND_SETTLE_SECONDS
from indiepay.sandbox.wechatpay.protocol import (
    Authenticated,
    GatewayError,
    authenticate,
    error_response,
    param_error,
    signed_response,
)
from indiepay.sandbox.wechatpay.state import SandboxState

logger = logging.getLogger(__name__)

Handler = Callable[[Authenticated], Awaitable[tuple[int, dict[str, Any] | None]]]


def public_base(state: SandboxState, request: Request) -> str:
    """The sandbox's own base URL as buyers see it (mount point included)."""
    if state.config.public_base_url:
        return state.config.public_base_url.rstrip("/")
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}".rstrip("/")


async def api_call(state: SandboxState, request: Request, handler: Handler) -> Response:
    auth: Authenticated | None = None
    try:
        auth = await authenticate(request, state.store)
        if state.take_counter(auth.merchant["mchid"], "fail_with_500"):
            raise GatewayError(500, "SYSTEM_ERROR", "系统错误")
        status, payload = await handler(auth)
        response = signed_response(auth.merchant, status, payload, auth.prefer_public_key)
    except GatewayError as error:
        merchant = auth.merchant if auth else None
        response = error_response(merchant, error, auth.prefer_public_key if auth else False)
    except Exception:  # the real gateway answers a bug with a (signed) SYSTEM_ERROR, never a stack trace
        logger.exception("wechatpay sandbox: unexpected error")
        merchant = auth.merchant if auth else None
        response = error_response(merchant, GatewayError(500, "SYSTEM_ERROR", "系统错误"))
    if auth is not None:
        hang = state.faults_for(auth.merchant["mchid"]).hang_seconds
        if hang > 0:
            await asyncio.sleep(hang)
    return response


def settle_refund(state: SandboxState, refund: dict[str, Any]) -> None:
    """Settle a due refund, persist it and send REFUND.SUCCESS (whoever settles it sends the callback)."""
    if orders.settle_if_due(refund, state.clock.now()):
        state.store.put_refund(refund)
        send_callback(state, refund["mchid"], refund["notify_url"], "REFUND.SUCCESS", "退款成功", "refund",
                      orders.refund_notice(refund))


async def _settle_later(state: SandboxState, mchid: str, out_refund_no: str) -> None:
    """Settle the refund once it is due and send its callback. Waits again if woken before the refund's
    (wall-clock) settle time — a timer of the event loop's own clock may fire a little early, and a refund
    left PROCESSING here would get no callback until somebody queried it."""
    while True:
        refund = state.store.get_refund(mchid, out_refund_no)
        if refund is None or refund["status"] != "PROCESSING":
            return  # settled already, by a query or a bill
        wait = orders.seconds_until_due(refund)
        if wait <= 0:
            settle_refund(state, refund)
            return
        await asyncio.sleep(wait)


def register_v3(app: FastAPI, state: SandboxState) -> None:
    store = state.store

    async def prepay(request: Request, kind: str) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            order = orders.validate_prepay(kind, auth.merchant, auth.data)
            existing = store.get_order(order["mchid"], order["out_trade_no"])
            if existing is not None:
                if existing["trade_state"] in ("SUCCESS", "REFUND"):
                    raise GatewayError(400, "ORDERPAID", "该订单已支付")
                if existing["trade_state"] == "CLOSED":
                    raise GatewayError(400, "ORDER_CLOSED", "订单已关闭")
                if existing["fingerprint"] != order["fingerprint"] or existing["trade_type"] != order["trade_type"]:
                    raise GatewayError(400, "INVALID_REQUEST", "201 商户订单号重复")
                return 200, dict(existing["prepay"])
            answer, token = orders.new_prepay(kind, order, public_base(state, request))
            order["prepay"] = answer
            order["buyer_token"] = token
            store.put_order(order)
            store.add_token(token, order["mchid"], order["out_trade_no"])
            if "code_url" in answer:
                store.add_token(answer["code_url"], order["mchid"], order["out_trade_no"])
            return 200, dict(answer)

        return await api_call(state, request, handle)

    @app.post("/v3/pay/transactions/native", include_in_schema=False)
    async def native(request: Request) -> Response:
        return await prepay(request, "native")

    @app.post("/v3/pay/transactions/jsapi", include_in_schema=False)
    async def jsapi(request: Request) -> Response:
        return await prepay(request, "jsapi")

    @app.post("/v3/pay/transactions/h5", include_in_schema=False)
    async def h5(request: Request) -> Response:
        return await prepay(request, "h5")

    @app.get("/v3/pay/transactions/out-trade-no/{out_trade_no}", include_in_schema=False)
    async def query(request: Request, out_trade_no: str) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            mchid = request.query_params.get("mchid")
            if not mchid:
                raise GatewayError(400, "PARAM_ERROR", "输入源“/query/mchid”映射到字段“直连商户号”必填性规则校验失败")
            if mchid != auth.merchant["mchid"]:
                raise param_error("mchid与Authorization中的商户号不一致", "mchid")
            order = store.get_order(mchid, out_trade_no)
            if order is None:
                raise GatewayError(404, "ORDER_NOT_EXIST", "订单不存在")
            return 200, orders.transaction_view(order)

        return await api_call(state, request, handle)

    @app.post("/v3/pay/transactions/out-trade-no/{out_trade_no}/close", include_in_schema=False)
    async def close(request: Request, out_trade_no: str) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            if auth.data.get("mchid") != auth.merchant["mchid"]:
                raise param_error("mchid为必填项且须与Authorization中的商户号一致", "mchid")
            order = store.get_order(auth.merchant["mchid"], out_trade_no)
            if order is None:
                raise GatewayError(404, "ORDER_NOT_EXIST", "订单不存在")
            if order["trade_state"] in ("SUCCESS", "REFUND"):
                raise GatewayError(400, "ORDERPAID", "订单已支付")
            order["trade_state"] = "CLOSED"
            store.put_order(order)
            return 204, None

        return await api_call(state, request, handle)

    @app.post("/v3/refund/domestic/refunds", include_in_schema=False)
    async def refund(request: Request) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            mchid = auth.merchant["mchid"]
            out_refund_no, amount, total, notify_url = orders.validate_refund(auth.data)
            order = None
            if auth.data.get("out_trade_no"):
                order = store.get_order(mchid, str(auth.data["out_trade_no"]))
            elif auth.data.get("transaction_id"):
                order = store.order_by_token(str(auth.data["transaction_id"]))
            if order is None or order["mchid"] != mchid:
                raise GatewayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            close_reason = sharing.close_reason(state, mchid)
            with state.lock:  # a refund and a profit-sharing order must not both spend the same money
                order = store.get_order(mchid, order["out_trade_no"]) or order
                existing = store.get_refund(mchid, out_refund_no)
                if existing is not None:
                    if existing["out_trade_no"] != order["out_trade_no"] or existing["refund"] != amount:
                        raise GatewayError(400, "INVALID_REQUEST", "退款单号已存在，且退款参数与原请求不一致")
                    return 200, orders.refund_view(existing)
                if order["trade_state"] not in ("SUCCESS", "REFUND"):
                    raise GatewayError(400, "INVALID_REQUEST", "订单未支付，不能发起退款")
                if total != order["total"]:
                    raise GatewayError(400, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致，请核实后再试")
                refunded = sum(r["refund"] for r in store.refunds_of(mchid, order["out_trade_no"])
                               if r["status"] in ("PROCESSING", "SUCCESS"))
                if amount > order["total"] - refunded:
                    raise GatewayError(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额，请核实后再试")
                if order.get("profit_sharing"):
                    sharing.book_of(state, order, close_reason).check_refund(amount)
                reason = auth.data.get("reason")
                doc = orders.new_refund(order, out_refund_no, amount, str(reason) if reason else None, notify_url,
                                        REFUND_SETTLE_SECONDS / state.config.time_factor, state.clock.now())
                store.put_refund(doc)
                order["trade_state"] = "REFUND"
                store.put_order(order)
            state.spawn(_settle_later(state, mchid, out_refund_no), f"settle refund {out_refund_no}")
            return 200, orders.refund_view(doc)

        return await api_call(state, request, handle)

    @app.get("/v3/refund/domestic/refunds/{out_refund_no}", include_in_schema=False)
    async def refund_query(request: Request, out_refund_no: str) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            doc = store.get_refund(auth.merchant["mchid"], out_refund_no)
            if doc is None:
                raise GatewayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            settle_refund(state, doc)
            return 200, orders.refund_view(doc)

        return await api_call(state, request, handle)

    @app.get("/v3/certificates", include_in_schema=False)
    async def certificates(request: Request) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            certs = auth.merchant["certificates"]
            if not certs:
                raise GatewayError(404, "RESOURCE_NOT_EXISTS", "无可用的平台证书，请使用微信支付公钥验签")
            key = str(auth.merchant["apiv3_key"]).encode()
            data = []
            for cert in certs:
                nonce = secrets.token_hex(6)
                data.append({
                    "serial_no": cert["serial"], "effective_time": cert["effective_time"],
                    "expire_time": cert["expire_time"],
                    "encrypt_certificate": {
                        "algorithm": "AEAD_AES_256_GCM", "nonce": nonce, "associated_data": "certificate",
                        "ciphertext": signing.aead_encrypt(key, nonce, "certificate", cert["cert_pem"].encode()),
                    },
                })
            return 200, {"data": data}

        return await api_call(state, request, handle)
