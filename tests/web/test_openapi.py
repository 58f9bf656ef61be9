"""The OpenAPI document describes the errors the API really sends: the one envelope under every status a
request may meet, and not FastAPI's 422 ``{"detail": [...]}``, which this API never answers with."""

from __future__ import annotations

from tests.support.platform import PlatformUnderTest


def test_every_operation_documents_the_error_envelope(platform: PlatformUnderTest) -> None:
    document = platform.admin.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(document)
    error = document["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status in ("400", "401", "404", "500"):
                schema = operation["responses"][status]["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/Error"}, (path, method, status)
            assert ("409" in operation["responses"]) == (method in ("post", "put", "patch", "delete")), (path, method)
    merchant = platform.merchant("Tea")
    refused = merchant.api.post("/v1/payments", json={"amount": 0})  # what the document says is what comes
    assert refused.status_code == 400
    assert set(refused.json()) == {"error"} and set(refused.json()["error"]) == {"code", "message", "details"}
