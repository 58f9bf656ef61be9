"""One pooled HTTP client per event loop for the gateways' outgoing callbacks.

Building an ``httpx.AsyncClient`` creates an SSL context (loading the CA bundle), which takes tens of
milliseconds and runs on the event loop; doing that per callback stalled everything sharing the loop —
the platform too, when the sandbox is mounted inside it. The client is bound to the loop that created it
and rebuilt if the gateway finds itself on another loop (tests start and stop servers).
"""

from __future__ import annotations

import asyncio
import threading

import httpx


def callback_allowed(url: str, callbacks_to: str | None) -> bool:
    """Whether a gateway may send a callback to ``url``. Mounted inside the platform (``callbacks_to`` its own
    notify address), a gateway calls back the platform only: anyone may provision sandbox credentials and open
    an order with any notify URL, and the server would otherwise post to any address it can reach — its own
    internal network included. Standalone (``None``), as a developer's tool, anywhere."""
    return callbacks_to is None or url.startswith(callbacks_to)


REFUSED = "refused: callbacks go to the platform's own notify address only"


class CallbackHttp:
    """Hands out the pooled ``AsyncClient`` of the running event loop."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, httpx.AsyncClient]] = {}

    def client(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            for key, (known, _) in list(self._clients.items()):
                if known.is_closed():
                    del self._clients[key]
            entry = self._clients.get(id(loop))
            if entry is None:
                entry = (loop, httpx.AsyncClient(timeout=self._timeout))
                self._clients[id(loop)] = entry
            return entry[1]
