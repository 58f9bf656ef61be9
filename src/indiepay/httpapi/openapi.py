"""The OpenAPI document says what the API really answers on error.

FastAPI documents, for every operation with parameters, a 422 ``{"detail": [...]}`` (its own validation
error) that this API never sends: a request that fails validation is a 400 and every error, whatever its
status, is the one envelope ``{"error": {"code", "message", "details"}}`` (:mod:`.errors`). A client
generated from the document, or a contract test run against it, would otherwise expect the wrong body on
every failure. So the document is rewritten once, when first asked for: FastAPI's 422 goes, and each
operation lists the envelope under the statuses any request may meet (400, 401, 403, 404, 413, 429 and
500) plus, for the operations that change something, 409 and 422.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_SCHEMA: dict[str, Any] = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["code", "message", "details"],
        "properties": {"code": {"type": "string", "description": "stable, for clients to branch on"},
                       "message": {"type": "string"},
                       "details": {"type": "object"}}}},
}
_ANY_REQUEST = {"400": "invalid request", "401": "no valid API key", "403": "not allowed to this key",
                "404": "not found (or another tenant's)", "413": "body too large", "429": "too many failed attempts",
                "500": "internal error (nothing is echoed)"}
_CHANGES = {"409": "conflicts with the current state", "422": "well formed but cannot be carried out"}
_REF = {"$ref": "#/components/schemas/Error"}


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the document with the error envelope (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=app.routes)
            _with_error_envelope(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _with_error_envelope(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    for operations in document.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            if _is_fastapi_validation(responses.get("422")):
                del responses["422"]
            statuses = dict(_ANY_REQUEST)
            if method in ("post", "put", "patch", "delete"):
                statuses.update(_CHANGES)
            for status, description in statuses.items():
                responses.setdefault(status, {"description": description,
                                              "content": {"application/json": {"schema": _REF}}})


def _is_fastapi_validation(response: dict[str, Any] | None) -> bool:
    if response is None:
        return False
    schema = response.get("content", {}).get("application/json", {}).get("schema", {})
    return bool(schema.get("$ref", "").endswith("/HTTPValidationError"))
