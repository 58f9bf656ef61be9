"""One renderer for every error: ``{"error": {"code", "message", "details"}}`` with a 4xx (or 5xx) status.

Validation failures get stable codes derived from what failed (``malformed_json``, ``missing_field``,
``unknown_field``, ``invalid_amount``, ``invalid_method``, ...), so clients can branch on them.
Unexpected exceptions become a generic 500 that never echoes internals or secrets.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from indiepay.core.errors import IndiePayError

log = logging.getLogger(__name__)

FIELD_CODES = {"amount": "invalid_amount", "method": "invalid_method", "currency": "invalid_currency",
               "out_trade_no": "invalid_out_trade_no", "out_refund_no": "invalid_out_refund_no"}


def error_response(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse(status_code=status,
                        content={"error": {"code": code, "message": message, "details": details or {}}})


def validation_code(errors: list[dict[str, Any]]) -> str:
    for error in errors:
        if error.get("type") == "json_invalid":
            return "malformed_json"
    for error in errors:
        loc = [part for part in error.get("loc", ()) if part != "body"]
        if error.get("type") == "missing":
            return "missing_field"
        if error.get("type") == "extra_forbidden":
            return "unknown_field"
        if loc and isinstance(loc[0], str) and loc[0] in FIELD_CODES:
            return FIELD_CODES[loc[0]]
    return "invalid_request"


def install(app: FastAPI) -> None:
    @app.exception_handler(IndiePayError)
    async def _domain(_request: Request, exc: IndiePayError) -> JSONResponse:
        return error_response(exc.http_status, exc.code, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"loc": list(e.get("loc", ())), "type": e.get("type"), "msg": e.get("msg")}
                  for e in exc.errors()]
        code = validation_code(errors)
        message = "request body is not valid JSON" if code == "malformed_json" else "invalid request"
        return error_response(400, code, message, {"errors": errors})

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        if exc.status_code == 400:  # FastAPI could not read the body at all (e.g. JSON that is not UTF-8)
            json_body = "json" in request.headers.get("content-type", "")
            code = "malformed_json" if json_body else "malformed_body"
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error: %s", type(exc).__name__, exc_info=exc)
        return error_response(500, "internal_error", "internal error")
