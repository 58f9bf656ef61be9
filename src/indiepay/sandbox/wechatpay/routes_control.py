"""Sandbox-only endpoints: merchant provisioning, fault knobs (bill corruption included), the business
clock, inspection and buyer simulation.

None of these exist at the real gateway; they are unsigned and unauthenticated (the sandbox is a test
tool) and live under names starting with ``_`` so they can never collide with a real path.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import HTMLResponse, JSONResponse, Response

from indiepay.sandbox.billing import FAULTS, BillFault, BillFaultError
from indiepay.sandbox.clock import ClockError
from indiepay.sandbox.wechatpay import gateway_keys, orders
from indiepay.sandbox.wechatpay.callbacks import send_callback
from indiepay.sandbox.wechatpay.protocol import GatewayError
from indiepay.sandbox.wechatpay.state import Faults, SandboxState

ACTION_KNOBS = {"rotate_platform_certificate", "retire_old_platform_certificates", "create_public_key",
                "switch_to_public_key"}


def _error(error: GatewayError) -> JSONResponse:
    return JSONResponse({"code": error.code, "message": error.message}, status_code=error.status)


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        raise GatewayError(400, "PARAM_ERROR", "body is not JSON") from None
    if not isinstance(data, dict):
        raise GatewayError(400, "PARAM_ERROR", "body must be a JSON object")
    return data


def _merchant(state: SandboxState, mchid: Any) -> dict[str, Any]:
    merchant = state.store.get_merchant(str(mchid)) if mchid else None
    if merchant is None:
        raise GatewayError(404, "MCH_NOT_EXISTS", "unknown sandbox mchid")
    return merchant


def _knob_view(state: SandboxState, merchant: dict[str, Any]) -> dict[str, Any]:
    pub = merchant.get("public_key")
    serial, _ = gateway_keys.signer(merchant)
    view: dict[str, Any] = {
        "mchid": merchant["mchid"],
        "faults": state.faults_for(merchant["mchid"]).as_dict(),
        "key_mode": merchant["key_mode"],
        "signing_serial": serial,
        "platform_certificate_serials": [c["serial"] for c in merchant["certificates"]],
    }
    with state.lock:
        view["bill_faults_applied"] = list(state.bill_log.get(merchant["mchid"], []))
    if pub:
        view["wechatpay_public_key_id"] = pub["id"]
        view["wechatpay_public_key"] = pub["public_pem"]
    return view


def _set_faults(state: SandboxState, merchant: dict[str, Any], data: dict[str, Any]) -> None:
    unknown = set(data) - Faults.names() - ACTION_KNOBS - {"mchid", "bill_fault"}
    if unknown:
        raise GatewayError(400, "PARAM_ERROR", f"unknown fault knobs: {sorted(unknown)}")
    bill_fault = None
    if "bill_fault" in data:
        try:
            bill_fault = BillFault.parse(data["bill_fault"], faults=FAULTS, bills=frozenset({"trade", "fundflow"}))
        except BillFaultError as exc:
            raise GatewayError(400, "PARAM_ERROR", str(exc)) from None
    knobs = state.faults_for(merchant["mchid"])
    with state.lock:
        if bill_fault is not None:
            knobs.bill_faults.append(bill_fault.as_dict())
        for name in Faults.names() & set(data):
            current = getattr(knobs, name)
            value = data[name]
            if isinstance(current, bool):
                ok = isinstance(value, bool)
            elif isinstance(current, int):
                ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
            elif isinstance(current, str):
                ok = isinstance(value, str) and len(value) <= 64
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
            if not ok:
                raise GatewayError(400, "PARAM_ERROR", f"bad value for {name}")
            setattr(knobs, name, type(current)(value))
    if data.get("rotate_platform_certificate"):
        cert = gateway_keys.new_platform_certificate(datetime.now(UTC))
        merchant["certificates"].append(cert)
        merchant["active_certificate"] = cert["serial"]
        if merchant["key_mode"] != "public_key" or not merchant.get("public_key"):
            merchant["key_mode"] = "platform_certificate"
    if data.get("retire_old_platform_certificates"):
        active = merchant["active_certificate"]
        merchant["certificates"] = [c for c in merchant["certificates"] if c["serial"] == active]
    if data.get("create_public_key") and not merchant.get("public_key"):
        # the migration's first step: the key exists (requests naming it get answers signed with it) but
        # callbacks keep the platform certificate until the switch
        merchant["public_key"] = gateway_keys.new_public_key()
    if data.get("switch_to_public_key"):
        if not merchant.get("public_key"):
            merchant["public_key"] = gateway_keys.new_public_key()
        merchant["key_mode"] = "public_key"
    if data.keys() & ACTION_KNOBS:
        state.store.put_merchant(merchant)


def _buyer_page(body: str) -> HTMLResponse:
    return HTMLResponse("<!doctype html><html lang=zh><head><meta charset=utf-8>"
                        "<meta name=viewport content='width=device-width'><title>微信支付 沙箱</title></head>"
                        f"<body style='font-family:sans-serif;max-width:28em;margin:2em auto'>{body}</body></html>")


def pay_order(state: SandboxState, order: dict[str, Any] | None, openid: str | None) -> dict[str, Any]:
    """Buyer pays: mark SUCCESS, persist, send TRANSACTION.SUCCESS. Raises GatewayError."""
    if order is None:
        raise GatewayError(404, "ORDER_NOT_EXIST", "订单不存在")
    orders.mark_paid(order, openid, state.clock.now())
    state.store.put_order(order)
    state.store.add_token(order["transaction_id"], order["mchid"], order["out_trade_no"])
    send_callback(state, order["mchid"], order["notify_url"], "TRANSACTION.SUCCESS", "支付成功", "transaction",
                  orders.transaction_view(order))
    return {"mchid": order["mchid"], "out_trade_no": order["out_trade_no"], "trade_state": "SUCCESS",
            "transaction_id": order["transaction_id"], "success_time": order["success_time"]}


def register_control(app: FastAPI, state: SandboxState) -> None:
    store = state.store

    @app.post("/_provision", status_code=201)
    async def provision(request: Request) -> Response:
        try:
            data = await _json(request)
            mode = data.get("key_mode", "public_key")
            if mode not in gateway_keys.KEY_MODES:
                raise GatewayError(400, "PARAM_ERROR", f"key_mode must be one of {list(gateway_keys.KEY_MODES)}")
            name = data.get("name")  # the legal name a profit-sharing receivers/add must then match
            if name is not None and (not isinstance(name, str) or not name):
                raise GatewayError(400, "PARAM_ERROR", "name must be a non-empty string")
        except GatewayError as error:
            return _error(error)
        mchid = "19" + "".join(secrets.choice("0123456789") for _ in range(8))
        while store.get_merchant(mchid) is not None:
            mchid = "19" + "".join(secrets.choice("0123456789") for _ in range(8))
        record, credentials = await asyncio.to_thread(gateway_keys.new_merchant, mode, mchid)
        answer: dict[str, Any] = {"credentials": credentials, "key_mode": mode}
        if name is not None:
            record["name"] = answer["name"] = name
        store.put_merchant(record)
        return JSONResponse(answer, status_code=201)

    @app.post("/_credentials/rotate")
    async def rotate_credentials(request: Request) -> Response:
        """The merchant resets its APIv3 key and/or its API certificate at the merchant platform."""
        try:
            data = await _json(request)
            merchant = _merchant(state, data.get("mchid"))
            unknown = set(data) - {"mchid", "apiv3_key", "merchant_key"}
            if unknown:
                raise GatewayError(400, "PARAM_ERROR", f"unknown fields: {sorted(unknown)}")
            apiv3, api_cert = data.get("apiv3_key", True), data.get("merchant_key", False)
            if not isinstance(apiv3, bool) or not isinstance(api_cert, bool) or not (apiv3 or api_cert):
                raise GatewayError(400, "PARAM_ERROR", "apiv3_key / merchant_key are booleans, one of them true")
        except GatewayError as error:
            return _error(error)
        changed = await asyncio.to_thread(gateway_keys.rotate_merchant_keys, merchant, apiv3_key=apiv3,
                                          merchant_key=api_cert)
        state.store.put_merchant(merchant)
        return JSONResponse({"mchid": merchant["mchid"], "credentials": changed})

    @app.post("/_faults")
    async def set_faults(request: Request) -> Response:
        try:
            data = await _json(request)
            merchant = _merchant(state, data.get("mchid"))
            if data.keys() & ACTION_KNOBS:
                await asyncio.to_thread(_set_faults, state, merchant, data)
            else:
                _set_faults(state, merchant, data)
        except GatewayError as error:
            return _error(error)
        return JSONResponse(_knob_view(state, merchant))

    @app.get("/_faults")
    async def get_faults(mchid: str = "") -> Response:
        try:
            return JSONResponse(_knob_view(state, _merchant(state, mchid)))
        except GatewayError as error:
            return _error(error)

    @app.delete("/_faults")
    async def reset_faults(mchid: str = "") -> Response:
        try:
            merchant = _merchant(state, mchid)
        except GatewayError as error:
            return _error(error)
        with state.lock:
            state.faults[merchant["mchid"]] = Faults()
            state.bill_log.pop(merchant["mchid"], None)
        return JSONResponse(_knob_view(state, merchant))

    @app.get("/_clock")
    async def get_clock() -> Response:
        return JSONResponse(state.clock.view())

    @app.post("/_clock")
    async def set_clock(request: Request) -> Response:
        try:
            state.clock.update(await _json(request))
        except GatewayError as error:
            return _error(error)
        except ClockError as exc:
            return _error(GatewayError(400, "PARAM_ERROR", str(exc)))
        return JSONResponse(state.clock.view())

    @app.delete("/_clock")
    async def reset_clock() -> Response:
        state.clock.reset()
        return JSONResponse(state.clock.view())

    @app.get("/_orders/{mchid}/{out_trade_no}")
    async def inspect_order(mchid: str, out_trade_no: str) -> Response:
        order = store.get_order(mchid, out_trade_no)
        if order is None:
            return _error(GatewayError(404, "ORDER_NOT_EXIST", "订单不存在"))
        return JSONResponse({**order, "refunds": store.refunds_of(mchid, out_trade_no)})

    @app.get("/_callbacks")
    async def deliveries(mchid: str = "") -> Response:
        with state.lock:
            return JSONResponse({"mchid": mchid, "deliveries": list(state.deliveries.get(mchid, []))})

    @app.post("/_buyer/pay")
    async def buyer_pay(request: Request) -> Response:
        try:
            data = await _json(request)
            if data.get("code_url"):
                order = store.order_by_token(str(data["code_url"]))
            elif data.get("prepay_id"):
                order = store.order_by_token(str(data["prepay_id"]))
            elif data.get("mchid") and data.get("out_trade_no"):
                order = store.get_order(str(data["mchid"]), str(data["out_trade_no"]))
            else:
                raise GatewayError(400, "PARAM_ERROR", "give code_url, prepay_id, or mchid + out_trade_no")
            openid = data.get("openid")
            return JSONResponse(pay_order(state, order, str(openid) if openid else None))
        except GatewayError as error:
            return _error(error)

    @app.get("/_buyer/h5")
    async def buyer_h5(prepay_id: str = "") -> Response:
        order = store.order_by_token(prepay_id)
        if order is None:
            return _buyer_page("<h1>订单不存在</h1>")
        amount = f"{order['total'] // 100}.{order['total'] % 100:02d}"
        return _buyer_page(
            f"<h1>微信支付（沙箱）</h1><p>{html.escape(str(order['description']))}</p>"
            f"<p>商户号 {html.escape(order['mchid'])} · 订单 {html.escape(order['out_trade_no'])}</p>"
            f"<p style='font-size:2em'>¥{amount}</p>"
            f"<form method=post action='h5/pay'><input type=hidden name=prepay_id value='{html.escape(prepay_id)}'>"
            "<button type=submit id=pay style='font-size:1.5em;width:100%'>Pay 确认支付</button></form>")

    @app.post("/_buyer/h5/pay")
    async def buyer_h5_pay(request: Request) -> Response:
        form = await request.form()
        prepay_id = str(form.get("prepay_id", ""))
        try:
            pay_order(state, store.order_by_token(prepay_id), None)
        except GatewayError as error:
            return _buyer_page(f"<h1>支付失败</h1><p>{html.escape(error.message)}</p>")
        return _buyer_page("<h1>支付成功</h1><p id=paid>Paid</p>")
