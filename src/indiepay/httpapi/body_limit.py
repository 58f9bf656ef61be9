"""Refuse an oversized request body at the door, before it is held in memory or spooled to disk.

Without a cap, one request of a few gigabytes — a JSON body, a dashboard form, a callback — was read whole
(the NUL guard and the routes read JSON bodies whole; a multipart form is spooled to a temporary file
before its route sees it), so any client could exhaust the server's memory or disk. Each path gets a limit
(:class:`BodyLimits`): a small default for every JSON API call, form and callback, larger ones only for the
routes that take files. The declared ``Content-Length`` is checked before anything is read; a body sent
without one (chunked) is counted as it arrives and refused the moment it passes the limit — the route
reading it sees :class:`BodyTooLarge`, an error of the one tree (413 ``body_too_large``), and whatever
reads it outside a route (the NUL guard) has it answered here.

Pure ASGI, like the NUL guard: a header scan and a counter on the payment path, nothing more.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from html import escape

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from indiepay.core.errors import IndiePayError

CODE = "body_too_large"
MIB = 1024 * 1024


class BodyTooLarge(IndiePayError):
    """The request's body is over its route's limit (413)."""

    code = CODE
    http_status = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is over the limit of {_size(limit)} for this route",
                         details={"max_bytes": limit})


@dataclass(frozen=True)
class BodyLimits:
    """The largest body each path accepts: ``by_path`` (exact paths, the routes that take files) or ``default``.
    A path mapped to None reads its body under a cap of its own (its route refuses more with its own code)."""

    default: int = MIB
    by_path: Mapping[str, int | None] = field(default_factory=dict)

    def of(self, path: str) -> int | None:
        return self.by_path.get(path, self.default)


class BodyLimit:
    """ASGI middleware enforcing :class:`BodyLimits`; add it outside every middleware that reads bodies."""

    def __init__(self, app: ASGIApp, limits: BodyLimits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limits.of(scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _refuse(scope, send, limit)
            return
        received = 0
        started = False

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except BodyTooLarge:
            if started:
                raise
            await _refuse(scope, send, limit)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            text = bytes(value).strip()
            return int(text) if text.isdigit() else None
    return None


def _size(limit: int) -> str:
    return f"{limit / MIB:g} MiB" if limit >= MIB else f"{limit} bytes"


async def _refuse(scope: Scope, send: Send, limit: int) -> None:
    """413: the API's error JSON, or for the dashboard (a browser's form post) a short page saying so."""
    error = BodyTooLarge(limit)
    if scope["path"].startswith("/dashboard/"):
        body = (f"<!doctype html><title>Too large</title><p>{escape(error.message)}.</p>"
                '<p><a href="/dashboard">Back to the dashboard</a></p>').encode()
        kind = b"text/html; charset=utf-8"
    else:
        body = json.dumps({"error": {"code": CODE, "message": error.message, "details": error.details}}).encode()
        kind = b"application/json"
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            (b"cache-control", b"no-store"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
