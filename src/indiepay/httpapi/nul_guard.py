"""Refuse the NUL character at the door, whatever route it is sent to.

PostgreSQL's text columns cannot hold NUL (``\\x00``): a name, a description, a reason or an id carrying
one reached the database and failed there, as a server error — on PostgreSQL only, SQLite stores it. No
field of IndiePay has a use for it, so one check before routing answers every such request with a 400
``invalid_characters`` instead of each schema and each path parameter guarding on its own: the decoded path,
the raw query string (``%00``) and, for JSON and URL-encoded form bodies, the body (JSON's ``\\u0000``
escape, a form's ``%00``, or the byte itself). Multipart and binary bodies (bill and statement uploads,
whose zip and gzip bytes hold NULs legitimately) pass untouched.

A JSON string holding the six characters ``\\u0000`` literally (an escaped backslash before them) is refused
too: nobody's order description needs that text, and telling the two apart would mean parsing the body
twice on every request.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

CODE = "invalid_characters"
_BODY_TYPES = (b"application/json", b"application/x-www-form-urlencoded")
_BODY_MARKS = (b"\x00", b"\\u0000", b"%00")
_REFUSAL = json.dumps({"error": {"code": CODE, "message": "the request holds a NUL character, which no field "
                                 "accepts", "details": {}}}).encode()


class NulGuard:
    """ASGI middleware (pure ASGI: no per-request task or stream wrapping on the payment path)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/sandbox/"):  # the channels' own, as they are
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"] or b"\x00" in scope["query_string"]:
            await _refuse(send)
            return
        if _content_type(scope) not in _BODY_TYPES:
            await self.app(scope, receive, send)
            return
        body, last = await _read_body(receive)
        if any(mark in body for mark in _BODY_MARKS):
            await _refuse(send)
            return
        await self.app(scope, _replay(body, last, receive), send)


def _content_type(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == b"content-type":
            return bytes(value).split(b";", 1)[0].strip().lower()
    return b""


async def _read_body(receive: Receive) -> tuple[bytes, Message]:
    """The whole body (JSON and form bodies are read whole by the routes anyway) and the message that
    ended it (a disconnect is passed on as it came)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), message
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks), message


def _replay(body: bytes, last: Message, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the body already read, then whatever the connection says next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            if last["type"] != "http.request":
                return last
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _refuse(send: Send) -> None:
    await send({"type": "http.response.start", "status": 400,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(_REFUSAL)).encode()),
                            (b"cache-control", b"no-store")]})
    await send({"type": "http.response.body", "body": _REFUSAL})
