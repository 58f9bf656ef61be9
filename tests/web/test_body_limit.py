"""Every request body has a cap, checked at the door: a declared ``Content-Length`` over it is refused
before a byte is read, a chunked body the moment it passes it — 413 ``body_too_large``, nothing written —
and only the routes that take files (bill and statement uploads) accept more than the default."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Message, Receive, Scope, Send

from indiepay.httpapi.body_limit import BodyLimit, BodyLimits, BodyTooLarge
from tests.support.platform import PlatformUnderTest, start_platform
from tests.web.test_dashboard import csrf, key_of, signed_in

MIB = 1024 * 1024


def too_large(response: httpx.Response) -> bool:
    return response.status_code == 413 and response.json()["error"]["code"] == "body_too_large"


def chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    """A body sent chunked (no Content-Length): a JSON string that never ends."""
    yield b'{"name": "'
    for _ in range(total // size):
        yield b"a" * size


@pytest.fixture
def small_caps(tmp_path: Path, sqlite_url: str) -> Iterator[PlatformUnderTest]:
    with start_platform(tmp_path, sqlite_url, max_body_bytes=64 * 1024, max_bill_upload_bytes=MIB) as running:
        yield running


def test_a_json_body_over_the_cap_is_refused_whole_and_writes_nothing(any_platform: PlatformUnderTest) -> None:
    platform = any_platform
    merchant = platform.merchant()
    merchant.sandbox_account("wechatpay")
    before = platform.sql("SELECT count(*) FROM payments")
    declared = merchant.api.post("/v1/payments", headers={"Idempotency-Key": "big-1"},
                                 content=b"{" + b" " * MIB + b"}")
    assert too_large(declared), declared.text
    assert declared.json()["error"]["details"] == {"max_bytes": MIB}
    streamed = merchant.api.post("/v1/payments", headers={"Idempotency-Key": "big-2",
                                                          "Content-Type": "application/json"},
                                 content=chunks(2 * MIB))
    assert too_large(streamed), streamed.text
    assert platform.sql("SELECT count(*) FROM payments") == before
    # a body within the cap goes on as before, on the same server
    assert merchant.create_payment(amount=100).status_code == 201


def test_the_cap_holds_for_admin_calls_callbacks_and_the_dashboard(small_caps: PlatformUnderTest) -> None:
    platform = small_caps
    before = platform.sql("SELECT count(*) FROM merchants")
    assert too_large(platform.admin.post("/v1/merchants", content=chunks(MIB),
                                         headers={"Content-Type": "application/json"}))
    assert platform.sql("SELECT count(*) FROM merchants") == before
    callback = httpx.post(f"{platform.base_url}/notify/wechatpay/acct_x", content=b"x" * (65 * 1024), timeout=30)
    assert too_large(callback)
    merchant = platform.merchant()
    client = signed_in(platform, key_of(merchant.api))
    token = csrf(client.get("/dashboard/webhooks").text)
    page = client.post("/dashboard/webhooks", data={"csrf": token, "url": "https://example.com/" + "a" * 70_000})
    assert page.status_code == 413 and "text/html" in page.headers["content-type"]
    assert "over the limit of 65536 bytes" in page.text


def test_only_the_file_routes_take_more_and_a_bill_over_its_cap_is_refused(small_caps: PlatformUnderTest) -> None:
    platform = small_caps
    merchant = platform.merchant()
    account = merchant.sandbox_account("wechatpay")
    runs = platform.sql("SELECT count(*) FROM reconciliation_runs")
    bill = merchant.api.post("/v1/reconciliation/bills", params={"account_id": account["id"]},
                             content=b"x" * (MIB + 1))
    assert too_large(bill) and bill.json()["error"]["details"] == {"max_bytes": MIB}
    streamed = merchant.api.post("/v1/reconciliation/bills", params={"account_id": account["id"]},
                                 content=chunks(2 * MIB))
    assert too_large(streamed)
    assert platform.sql("SELECT count(*) FROM reconciliation_runs") == runs
    # over the default but within the bill's cap: the route reads it and judges it as a bill
    judged = merchant.api.post("/v1/reconciliation/bills", params={"account_id": account["id"]},
                               content=b"x" * (200 * 1024))
    assert judged.status_code == 422 and judged.json()["error"]["code"] == "bill_malformed", judged.text
    empty = merchant.api.post("/v1/reconciliation/bills", params={"account_id": account["id"]}, content=b"")
    assert empty.status_code == 400 and empty.json()["error"]["code"] == "bill_required"


def _recording_app(seen: list[int]) -> BodyLimit:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        size = 0
        while True:
            message = await receive()
            size += len(message.get("body", b""))
            if not message.get("more_body"):
                break
        seen.append(size)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    return BodyLimit(app, BodyLimits(default=10, by_path={"/big": 100, "/own": None}))


def _call(app: BodyLimit, path: str, parts: list[bytes], declared: int | None = None) -> list[Message]:
    sent: list[Message] = []
    queue = [{"type": "http.request", "body": part, "more_body": n < len(parts) - 1} for n, part in enumerate(parts)]
    headers = [] if declared is None else [(b"content-length", str(declared).encode())]

    async def receive() -> Message:
        return queue.pop(0)

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(app({"type": "http", "path": path, "headers": headers}, receive, send))  # type: ignore[arg-type]
    return sent


def test_the_limit_is_per_path_and_counts_chunks_as_they_arrive() -> None:
    seen: list[int] = []
    app = _recording_app(seen)
    assert _call(app, "/x", [b"12345", b"12345"])[0]["status"] == 200  # exactly the cap
    assert _call(app, "/x", [b"12345", b"123456"])[0]["status"] == 413  # one byte over, no length declared
    assert _call(app, "/x", [b"1"], declared=11)[0]["status"] == 413  # refused on the header alone
    assert _call(app, "/big", [b"x" * 100])[0]["status"] == 200
    assert _call(app, "/own", [b"x" * 1000])[0]["status"] == 200  # the route's own cap
    assert seen == [10, 100, 1000]


def test_an_error_after_the_answer_started_is_not_answered_twice() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await receive()
        await receive()

    with pytest.raises(BodyTooLarge):
        _call(BodyLimit(app, BodyLimits(default=4)), "/x", [b"123", b"45"])
