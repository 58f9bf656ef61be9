"""The real bill endpoints of the WeChat Pay sandbox.

``GET /v3/bill/tradebill?bill_date=YYYY-MM-DD[&bill_type=ALL|SUCCESS|REFUND][&tar_type=GZIP]`` and
``GET /v3/bill/fundflowbill?bill_date=…[&account_type=BASIC][&tar_type=GZIP]`` are authenticated and signed
like every v3 call (and obey the ``fail_with_500`` / ``hang_seconds`` knobs); they answer
``{"hash_type": "SHA1", "hash_value", "download_url"}`` once the day's bill is published, else 400
``NO_STATEMENT_EXIST`` (the day has not ended) or ``STATEMENT_CREATING`` (ended, but before the publishing
hour). ``GET /v3/billdownload/file?token=…`` needs the merchant's request signature too, but answers the
file (gzipped when asked) **unsigned**, as the real gateway does; the link lives 30 seconds. The SHA1
is over the uncompressed file. Refunds whose settlement is due are settled first, so a bill never
misses a refund only because nobody asked about it.
"""

from __future__ import annotations

import gzip
import re
from datetime import date
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import Response

from indiepay.reconciliation.parsers.wechat_trade import TradeBillLayout
from indiepay.sandbox import billing
from indiepay.sandbox.wechatpay import bills
from indiepay.sandbox.wechatpay.protocol import Authenticated, GatewayError, authenticate, error_response, param_error
from indiepay.sandbox.wechatpay.routes_v3 import api_call, public_base, settle_refund
from indiepay.sandbox.wechatpay.state import SandboxState

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _bill_date(request: Request) -> date:
    text = request.query_params.get("bill_date", "")
    if not text:
        raise GatewayError(400, "PARAM_ERROR", "输入源“/query/bill_date”映射到字段“账单日期”必填性规则校验失败")
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise param_error("bill_date格式错误，须为YYYY-MM-DD", "bill_date") from None


def _tar_type(request: Request) -> str | None:
    tar_type = request.query_params.get("tar_type")
    if tar_type not in (None, "GZIP"):
        raise param_error("tar_type仅支持GZIP", "tar_type")
    return tar_type


def _announce(state: SandboxState, request: Request, mchid: str, kind: str, bill_date: date,
              tar_type: str | None, layout: TradeBillLayout = TradeBillLayout.ALL) -> dict[str, Any]:
    status = billing.bill_status(bill_date, state.clock.now(), state.config.bill_publish_after)
    if status == billing.NOT_ENDED:
        raise GatewayError(400, "NO_STATEMENT_EXIST", "账单文件不存在，请检查账单日期")
    if status == billing.GENERATING:
        raise GatewayError(400, "STATEMENT_CREATING", "账单生成中，请在上午十点以后再下载")
    for refund in state.store.all_refunds_of(mchid):
        if refund["status"] == "PROCESSING":
            settle_refund(state, refund)
    content, digest = bills.publish(state, mchid, kind, bill_date, layout)
    payload = gzip.compress(content, mtime=0) if tar_type == "GZIP" else content
    token = state.downloads.publish(mchid, payload)
    return {"hash_type": "SHA1", "hash_value": digest,
            "download_url": f"{public_base(state, request)}/v3/billdownload/file?token={token}"}


def register_bills(app: FastAPI, state: SandboxState) -> None:
    @app.get("/v3/bill/tradebill", include_in_schema=False)
    async def tradebill(request: Request) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            bill_date = _bill_date(request)
            bill_type = request.query_params.get("bill_type", "ALL")
            if bill_type not in TradeBillLayout.__members__:
                raise param_error("bill_type仅支持ALL、SUCCESS、REFUND", "bill_type")
            return 200, _announce(state, request, auth.merchant["mchid"], "trade", bill_date, _tar_type(request),
                                  TradeBillLayout(bill_type))

        return await api_call(state, request, handle)

    @app.get("/v3/bill/fundflowbill", include_in_schema=False)
    async def fundflowbill(request: Request) -> Response:
        async def handle(auth: Authenticated) -> tuple[int, dict[str, Any] | None]:
            bill_date = _bill_date(request)
            if request.query_params.get("account_type", "BASIC") != "BASIC":
                raise param_error("沙箱仅提供基本账户(BASIC)的资金账单", "account_type")
            return 200, _announce(state, request, auth.merchant["mchid"], "fundflow", bill_date,
                                  _tar_type(request))

        return await api_call(state, request, handle)

    @app.get("/v3/billdownload/file", include_in_schema=False)
    async def download(request: Request) -> Response:
        try:
            auth = await authenticate(request, state.store)
        except GatewayError as error:
            return error_response(None, error)
        found = state.downloads.get(request.query_params.get("token", ""))
        if found is None or found[0] != auth.merchant["mchid"]:
            return error_response(auth.merchant, GatewayError(400, "INVALID_REQUEST", "下载链接已失效，请重新申请账单"),
                                  auth.prefer_public_key)
        return Response(found[1], media_type="application/octet-stream")
