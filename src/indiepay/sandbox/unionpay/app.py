"""Builds the UnionPay sandbox gateway as a FastAPI sub-application.

The app is designed to be *mounted* (``/sandbox/unionpay`` in the platform server, ``/unionpay`` in the
standalone sandbox): its real paths are the production gateway's paths below the mount point, so a client
configured with the mount as its base URL sends exactly what it would send to ``gateway.95516.com`` (and
to the file host ``filedownload.95516.com``, served below the mount at ``/filedownload/``).
The endpoints are documented in the package docstring (:mod:`indiepay.sandbox.unionpay`).
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import Response

from indiepay.sandbox.unionpay import protocol
from indiepay.sandbox.unionpay.config import UnionpaySandboxConfig
from indiepay.sandbox.unionpay.control import register_control
from indiepay.sandbox.unionpay.gateway import UnionpaySandbox


def create_unionpay_sandbox(config: UnionpaySandboxConfig | None = None) -> FastAPI:
    """A fresh sandbox gateway with its own state (memory, or the SQLite file ``config.state_path``)."""
    sandbox = UnionpaySandbox(config or UnionpaySandboxConfig())
    api = FastAPI(title="IndiePay UnionPay sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    api.state.sandbox = sandbox

    @api.post("/gateway/api/backTransReq.do")
    async def back_trans(request: Request) -> Response:
        return await sandbox.server_call(request, protocol.BACK)

    @api.post("/gateway/api/queryTrans.do")
    async def query_trans(request: Request) -> Response:
        return await sandbox.server_call(request, protocol.QUERY)

    @api.post("/gateway/api/frontTransReq.do")
    async def front_trans(request: Request) -> Response:
        return await sandbox.front_call(request)

    # the file host (filedownload.95516.com) below the mount; clients may or may not add the final slash
    @api.post("/filedownload/")
    @api.post("/filedownload")
    async def file_transfer(request: Request) -> Response:
        return await sandbox.server_call(request, protocol.FILE)

    @api.get("/qr/{token}")
    async def qr_page(request: Request, token: str) -> Response:
        return await sandbox.qr_page(request, token)

    @api.post("/_cashier/pay")
    async def cashier_pay(request: Request) -> Response:
        return await sandbox.cashier_pay(request)

    register_control(api, sandbox)
    return api
