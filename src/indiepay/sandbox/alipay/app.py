"""The FastAPI sub-application of the Alipay sandbox: ``gateway.do`` plus the sandbox-only endpoints.

Handlers are ``async`` so that notify delivery can be started with :func:`asyncio.create_task` from
inside them: Starlette runs no lifespan events for mounted apps, so nothing may depend on startup hooks.
The endpoints are documented in the package docstring (:mod:`indiepay.sandbox.alipay`).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from indiepay.channels.alipay import signing
from indiepay.core.money import fen_to_yuan
from indiepay.sandbox.alipay import bills, pages, royalty
from indiepay.sandbox.alipay.config import AlipaySandboxConfig
from indiepay.sandbox.alipay.gateway import PAGE_METHODS, KeyRing, RequestRejected, authenticate, render, success
from indiepay.sandbox.alipay.notifier import Notifier, payment_form, refund_form, sign_form
from indiepay.sandbox.alipay.provision import new_app, rotate_app
from indiepay.sandbox.alipay.store import Faults, Order, SandboxStore
from indiepay.sandbox.alipay.trades import GatewayError, TradeBook, cn_time
from indiepay.sandbox.billing import BillFaultError
from indiepay.sandbox.clock import ClockError, SandboxClock

GATEWAY_CONTENT_TYPE = "text/html;charset=utf-8"  # what the real gateway declares for its JSON


class BuyerPay(BaseModel):
    model_config = ConfigDict(extra="forbid")
    qr_code: str | None = None
    app_id: str | None = None
    out_trade_no: str | None = None
    buyer_id: str | None = Field(default=None, pattern=r"^2088\d{12}$")


class FaultUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_id: str
    drop_callbacks: int | None = Field(default=None, ge=0)
    duplicate_callbacks: bool | None = None
    callback_delay_seconds: float | None = Field(default=None, ge=0)
    fail_with_500: int | None = Field(default=None, ge=0)
    hang_seconds: float | None = Field(default=None, ge=0)
    bill_fault: dict[str, Any] | None = None
    royalty_fail_error_code: str | None = Field(default=None, max_length=64)


class KeyRotation(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_id: str
    app_key: bool = True
    alipay_key: bool = True


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


class AlipaySandbox:
    """State and behaviour shared by the routes of one sandbox instance."""

    def __init__(self, config: AlipaySandboxConfig) -> None:
        self.config = config
        self.store = SandboxStore(config.state_path)
        self.clock = SandboxClock()
        self.royalty = royalty.RoyaltyDesk(self.store, self.clock, config.time_factor)
        self.trades = TradeBook(self.store, self.clock, held_fen=self.royalty.held_fen)
        self.bills = bills.BillDesk(self.store, config, self.clock)
        self.keys = KeyRing(self.store)
        self.notifier = Notifier(self.store, config.time_factor, config.callbacks_to)

    def base_url(self, request: Request) -> str:
        """The sandbox's own URL including its mount point (``request.base_url`` omits the mount)."""
        if self.config.public_base_url:
            return self.config.public_base_url.rstrip("/")
        url = request.url
        return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}".rstrip("/")

    def notify_paid(self, order: Order) -> None:
        app = self.store.app(order.app_id)
        assert app is not None
        self.notifier.send(app, order, payment_form(app, order), self.keys.get(app).alipay_private_key)

    async def params(self, request: Request) -> dict[str, str]:
        """Query-string parameters merged with form fields (the form wins), as the real gateway reads them."""
        params = {k: v for k, v in request.query_params.items()}
        if request.method == "POST":
            form = await request.form()
            params.update({k: v for k, v in form.multi_items() if isinstance(v, str)})
        return params

    async def gateway(self, request: Request) -> Response:
        self.notifier.resume()
        params = await self.params(request)
        app = self.store.app(params.get("app_id", ""))
        if app is not None:
            hang = self.store.faults(app.app_id).hang_seconds
            if hang > 0:
                await asyncio.sleep(hang)
            if self.store.take_fault(app.app_id, "fail_with_500"):
                return Response("Internal Server Error", status_code=500, media_type="text/plain")
        method = params.get("method", "")
        try:
            req = authenticate(self.store, self.keys, params)
        except RequestRejected as rejected:
            if method in PAGE_METHODS:
                err = rejected.error
                return HTMLResponse(pages.error_page(err.code, err.sub_code, err.sub_msg), status_code=400)
            key = rejected.keys.alipay_private_key if rejected.keys else None
            return Response(render("error_response", rejected.error.body(), key), media_type=GATEWAY_CONTENT_TYPE)
        if req.method in PAGE_METHODS:
            return self.cashier(request, req.app.app_id, req.method, req.biz, params)
        try:
            body = success(self.dispatch(req.method, req.app.app_id, req.biz, params, self.base_url(request)))
        except GatewayError as err:
            body = err.body()
        member = signing.response_key(req.method)
        return Response(render(member, body, req.keys.alipay_private_key), media_type=GATEWAY_CONTENT_TYPE)

    def dispatch(self, method: str, app_id: str, biz: dict[str, Any], params: dict[str, str],
                 base_url: str) -> dict[str, Any]:
        app = self.store.app(app_id)
        assert app is not None
        if method == bills.METHOD:
            return self.bills.download_url(app, biz, base_url)
        if method in royalty.METHODS:
            return self.royalty.handle(method, app, biz)
        if method == "alipay.trade.precreate":
            return self.trades.precreate(app, biz, params.get("notify_url") or None)
        if method == "alipay.trade.query":
            return self.trades.query(app, biz)
        if method == "alipay.trade.close":
            return self.trades.close(app, biz)
        if method == "alipay.trade.refund":
            body, order, refund = self.trades.refund(app, biz)
            if refund is not None:
                self.notifier.send(app, order, refund_form(app, order, refund), self.keys.get(app).alipay_private_key)
            return body
        return self.trades.refund_query(app, biz)

    def cashier(self, request: Request, app_id: str, method: str, biz: dict[str, Any],
                params: dict[str, str]) -> Response:
        app = self.store.app(app_id)
        assert app is not None
        try:
            order = self.trades.open_cashier(app, biz, method, params.get("notify_url") or None,
                                             params.get("return_url") or None)
        except GatewayError as err:
            return HTMLResponse(pages.error_page(err.code, err.sub_code, err.sub_msg), status_code=400)
        action = f"{self.config.public_base_url.rstrip('/')}/_cashier/pay" if self.config.public_base_url \
            else "_cashier/pay"
        return HTMLResponse(pages.cashier_page(app, order, action))

    async def cashier_pay(self, request: Request) -> Response:
        form = await request.form()
        app_id, out_trade_no = str(form.get("app_id", "")), str(form.get("out_trade_no", ""))
        app = self.store.app(app_id)
        order = self.store.order(app_id, out_trade_no) if app else None
        if app is None or order is None or order.status == "NOT_CREATED":
            return HTMLResponse(pages.error_page("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在"), status_code=404)
        try:
            order = self.trades.pay(order)
        except GatewayError as err:
            return HTMLResponse(pages.error_page(err.code, err.sub_code, err.sub_msg), status_code=409)
        self.notify_paid(order)
        if not order.return_url:
            return HTMLResponse(pages.paid_page(order))
        back = {"charset": "utf-8", "out_trade_no": order.out_trade_no, "method": f"{order.method}.return",
                "total_amount": fen_to_yuan(order.total_fen), "trade_no": order.trade_no,
                "auth_app_id": app.app_id, "version": "1.0", "app_id": app.app_id, "seller_id": app.seller_id,
                "timestamp": cn_time(order.paid_at) or ""}
        signed = sign_form(back, self.keys.get(app).alipay_private_key)
        separator = "&" if "?" in order.return_url else "?"
        return RedirectResponse(order.return_url + separator + urlencode(signed), status_code=303)

    def buyer_pay(self, body: BuyerPay) -> Response:
        if body.qr_code:
            order = self.store.order_by_qr(body.qr_code)
        elif body.app_id and body.out_trade_no:
            order = self.store.order(body.app_id, body.out_trade_no)
        else:
            return _error(400, "invalid_request", "give qr_code, or app_id and out_trade_no")
        if order is None:
            return _error(404, "order_not_found", "no such order")
        try:
            order = self.trades.pay(order, body.buyer_id)
        except GatewayError as err:
            return _error(409, err.sub_code, err.sub_msg)
        self.notify_paid(order)
        return JSONResponse({"app_id": order.app_id, "out_trade_no": order.out_trade_no, "trade_no": order.trade_no,
                             "trade_status": order.status, "buyer_id": order.buyer_id,
                             "total_amount": fen_to_yuan(order.total_fen)})

    def order_view(self, app_id: str, out_trade_no: str) -> Response:
        order = self.store.order(app_id, out_trade_no)
        if order is None:
            return _error(404, "order_not_found", "no such order")
        return JSONResponse({
            "order": {**asdict(order), "total_amount": fen_to_yuan(order.total_fen),
                      "refunded_amount": fen_to_yuan(order.refunded_fen)},
            "refunds": [{**asdict(r), "amount": fen_to_yuan(r.amount_fen)}
                        for r in self.store.refunds(app_id, out_trade_no)],
            "notifies": self.notifier.describe(self.store.notifies_for(app_id, out_trade_no)),
        })


def create_alipay_sandbox(config: AlipaySandboxConfig | None = None) -> FastAPI:
    """Build the Alipay sandbox gateway as an ASGI app (mount it anywhere; the gateway is ``gateway.do``)."""
    sandbox = AlipaySandbox(config or AlipaySandboxConfig())
    api = FastAPI(title="IndiePay Alipay sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.sandbox = sandbox

    @api.api_route("/gateway.do", methods=["GET", "POST"])
    async def gateway(request: Request) -> Response:
        return await sandbox.gateway(request)

    @api.post("/_cashier/pay")
    async def cashier_pay(request: Request) -> Response:
        sandbox.notifier.resume()
        return await sandbox.cashier_pay(request)

    @api.post("/_provision", status_code=201)
    async def provision(request: Request) -> Response:
        app = await asyncio.to_thread(new_app)
        sandbox.store.add_app(app.app)
        return JSONResponse({"credentials": app.credentials,
                             "gateway_url": sandbox.base_url(request) + "/gateway.do"}, status_code=201)

    @api.post("/_credentials/rotate")
    async def rotate_credentials(body: KeyRotation) -> Response:
        app = sandbox.store.app(body.app_id)
        if app is None:
            return _error(404, "app_not_found", "no such app")
        if not (body.app_key or body.alipay_key):
            return _error(400, "invalid_request", "rotate app_key, alipay_key or both")
        rotated = await asyncio.to_thread(rotate_app, app, app_key=body.app_key, alipay_key=body.alipay_key)
        sandbox.store.replace_app(rotated.app)
        sandbox.keys.forget(app.app_id)
        return JSONResponse({"app_id": app.app_id, "credentials": rotated.credentials})

    @api.post("/_buyer/pay")
    async def buyer_pay(body: BuyerPay) -> Response:
        sandbox.notifier.resume()
        return sandbox.buyer_pay(body)

    def knob_view(app_id: str) -> JSONResponse:
        return JSONResponse({"app_id": app_id, **asdict(sandbox.store.faults(app_id)),
                             "bill_faults_applied": sandbox.bills.applied(app_id)})

    @api.post("/_faults")
    async def set_faults(body: FaultUpdate) -> Response:
        if sandbox.store.app(body.app_id) is None:
            return _error(404, "app_not_found", "no such app")
        if body.bill_fault is not None:
            try:
                sandbox.bills.queue_fault(body.app_id, body.bill_fault)
            except BillFaultError as exc:
                return _error(400, "invalid_request", str(exc))
        with sandbox.store.lock:
            faults = sandbox.store.faults(body.app_id)
            for name, value in body.model_dump(exclude={"app_id", "bill_fault"}, exclude_none=True).items():
                setattr(faults, name, value)
            sandbox.store.save_faults(body.app_id, faults)
        return knob_view(body.app_id)

    @api.get("/_faults")
    async def get_faults(app_id: str) -> Response:
        if sandbox.store.app(app_id) is None:
            return _error(404, "app_not_found", "no such app")
        return knob_view(app_id)

    @api.delete("/_faults")
    async def clear_faults(app_id: str) -> Response:
        if sandbox.store.app(app_id) is None:
            return _error(404, "app_not_found", "no such app")
        sandbox.store.clear_faults(app_id)
        sandbox.bills.forget(app_id)
        return JSONResponse({"app_id": app_id, **asdict(Faults()), "bill_faults_applied": []})

    @api.get(bills.DOWNLOAD_PATH)
    async def download_bill(token: str = "") -> Response:
        content = sandbox.bills.download(token)
        if content is None:
            return Response("下载链接已失效", status_code=404, media_type="text/plain; charset=utf-8")
        return Response(content, media_type="application/zip")

    @api.get("/_clock")
    async def get_clock() -> Response:
        return JSONResponse(sandbox.clock.view())

    @api.post("/_clock")
    async def set_clock(request: Request) -> Response:
        try:
            data = await request.json()
            if not isinstance(data, dict):
                raise ClockError("the body must be a JSON object")
            sandbox.clock.update(data)
        except (ValueError, ClockError) as exc:
            return _error(400, "invalid_request", str(exc))
        return JSONResponse(sandbox.clock.view())

    @api.delete("/_clock")
    async def reset_clock() -> Response:
        sandbox.clock.reset()
        return JSONResponse(sandbox.clock.view())

    @api.get("/_orders/{app_id}/{out_trade_no}")
    async def order(app_id: str, out_trade_no: str) -> Response:
        return sandbox.order_view(app_id, out_trade_no)

    return api
