"""POSTing to a server the platform does not control — a merchant's webhook endpoint, an alert receiver —
within a total deadline and reading at most a few KiB of its answer.

Such a delivery runs in the job worker, which also queries payments, closes expired orders and syncs
refunds for every merchant; one receiver must not be able to hold it. httpx's timeouts are per operation
(each read may wait that long, and every byte received starts the wait again), so a receiver that trickles
its answer a byte at a time keeps a plain ``post(..., timeout=10)`` for as long as it likes, and reading
the whole body puts an answer of any size in memory. :func:`post_within` gives the exchange one budget:

- every socket operation of the exchange — connect, TLS handshake, sending the request, each read of the
  status line, headers and body — waits at most for what is left of the budget, when the client's
  transport is a :class:`DeadlineTransport` (the platform's shared client is, see
  :meth:`indiepay.runtime.Runtime.build`). So the exchange ends within the budget however the receiver
  dribbles its bytes. What it does not bound: resolving the host name (the system resolver takes no
  timeout; its own are a few seconds), a host whose several addresses all let a connection hang (the
  standard library tries each within the time left) and, for a request larger than the socket's send
  buffer — not an event's few KiB —, a receiver reading it slowly (each ``send`` waits the time left);
- with any other transport (a test's mock), httpx's per-operation timeouts are set to the budget and the
  deadline is checked after each chunk of the body: an answer then ends within about twice the budget
  once its headers are in, but a status line or headers trickled byte by byte are bounded only per read;
- the body is read raw (never decompressed: no gzip bomb) and only its first :data:`BODY_CAP` bytes are
  kept; a longer one is not read further, and its connection is closed instead of going back to the pool.

Given ``public_only`` (a merchant's endpoint that may not reach private addresses: :mod:`indiepay.core.outbound`),
the connection itself is checked, not only the URL a moment before: a :class:`DeadlineTransport` resolves the
host once, refuses it if any address is not public, and connects to one of the addresses it checked — so a
name that answers a public address to the check and a private one to the connection (DNS rebinding) reaches
nothing; TLS still verifies the certificate against the name. A pooled connection is used for such an
exchange only if it was opened that way (one opened for a test-mode endpoint allowed private targets may
lead anywhere): otherwise the exchange fails before a byte is sent, and the connection is dropped.

A deadline that passes is an :class:`httpx.TimeoutException` like any other timeout: the caller records
the attempt as failed and retries it. A body over the cap is *not* a failure: the status line is the
receiver's answer (the delivery logs keep no body), and calling a 2xx a failure would send every event
again, forever, to a receiver whose framework happens to answer with a large page.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from indiepay.core import outbound

BODY_CAP = 4096  # bytes of an answer kept; the delivery logs store the status code, not the body


@dataclass(frozen=True)
class _Deadline:
    at: float  # time.monotonic()
    budget: float
    public_only: bool = False  # connect only to addresses checked to be public (see the module docstring)


# The deadline of the exchange running in this thread, read by every socket operation of a
# DeadlineTransport; None for every other use of the shared client (channel calls keep httpx's timeouts).
_CURRENT: ContextVar[_Deadline | None] = ContextVar("indiepay_webhook_deadline", default=None)


@dataclass(frozen=True)
class Answer:
    """A receiver's answer: its status code and the first :data:`BODY_CAP` bytes (at most) of its body,
    raw; ``complete`` is False when the body was longer and not read to its end."""

    status_code: int
    body: bytes
    complete: bool


def post_within(http: httpx.Client, url: str, *, content: bytes, headers: Mapping[str, str], budget: float,
                body_cap: int = BODY_CAP, public_only: bool = False) -> Answer:
    """POST ``content`` to ``url`` and return the answer, all within ``budget`` seconds (see the module
    docstring for exactly what the budget bounds); with ``public_only``, over a connection to an address
    checked to be public when it was opened.

    Raises:
        httpx.TimeoutException: the budget ran out (connecting, sending or reading the answer).
        httpx.HTTPError: any other failure of the exchange (refused connection, broken answer, a host that
            resolves to an address that is not public under ``public_only``...).
    """
    deadline = _Deadline(time.monotonic() + budget, budget, public_only)
    token = _CURRENT.set(deadline)
    try:
        with http.stream("POST", url, content=content, headers=dict(headers),
                         timeout=httpx.Timeout(budget)) as response:
            body = bytearray()
            for chunk in response.iter_raw():
                body += chunk
                if len(body) > body_cap:  # leaving the block unread closes the connection
                    return Answer(response.status_code, bytes(body[:body_cap]), complete=False)
                if time.monotonic() >= deadline.at:  # other transports (a DeadlineTransport's read times out)
                    raise httpx.ReadTimeout(_expired(deadline), request=response.request)
            return Answer(response.status_code, bytes(body), complete=True)
    finally:
        _CURRENT.reset(token)


def _expired(deadline: _Deadline) -> str:
    return f"no complete answer within the {deadline.budget:g} s deadline"


def _left(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """The timeout for one socket operation: ``timeout``, cut to what is left of the current deadline."""
    deadline = _CURRENT.get()
    if deadline is None:
        return timeout
    left = deadline.at - time.monotonic()
    if left <= 0:
        raise error(_expired(deadline))
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most for what is left of the current deadline;
    ``public``: opened to an address checked to be public (only such a one carries a ``public_only``
    exchange)."""

    def __init__(self, inner: httpcore.NetworkStream, *, public: bool = False) -> None:
        self._inner = inner
        self.public = public

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _naming_the_deadline():
            return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _CURRENT.get()
        if deadline is not None and deadline.public_only and not self.public:
            raise httpcore.ConnectError("a pooled connection not checked to lead to a public address was not used")
        with _naming_the_deadline():
            self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore.NetworkStream:
        with _naming_the_deadline():
            return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname,
                                                         _left(timeout, httpcore.ConnectTimeout)), public=self.public)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


@contextmanager
def _naming_the_deadline() -> Iterator[None]:
    """A socket timeout that the deadline cut short says so (not just "timed out"), in the delivery log."""
    try:
        yield
    except httpcore.TimeoutException as exc:
        deadline = _CURRENT.get()
        if deadline is None or time.monotonic() < deadline.at:
            raise
        raise type(exc)(_expired(deadline)) from exc


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens connections as ``inner`` does, as :class:`_DeadlineStream` s (a pooled connection keeps the
    wrapper, so a reused connection is bounded by the deadline of whichever exchange uses it)."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        deadline = _CURRENT.get()
        if deadline is not None and deadline.public_only:
            return self._connect_public(host, port, timeout, local_address, socket_options)
        with _naming_the_deadline():
            return _DeadlineStream(self._inner.connect_tcp(host, port, _left(timeout, httpcore.ConnectTimeout),
                                                           local_address, socket_options))

    def _connect_public(self, host: str, port: int, timeout: float | None, local_address: str | None,
                        socket_options: Iterable[Any] | None) -> httpcore.NetworkStream:
        """Resolve ``host`` once, refuse it unless every address is public, and connect to those addresses
        (in turn, within the deadline) — never to whatever the name resolves to a moment later."""
        try:
            addresses = outbound.resolve(host)
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"{host} does not resolve: {exc}") from exc
        private = [address for address in addresses if not outbound.is_public(address)]
        if private or not addresses:
            raise httpcore.ConnectError(f"{host} resolves to an address that is not public "
                                        f"({private[0] if private else 'none'})")
        failure: httpcore.ConnectError | None = None
        for address in addresses:
            try:
                with _naming_the_deadline():
                    return _DeadlineStream(self._inner.connect_tcp(
                        address, port, _left(timeout, httpcore.ConnectTimeout), local_address, socket_options),
                        public=True)
            except httpcore.ConnectError as exc:
                failure = exc
        assert failure is not None
        raise failure

    def connect_unix_socket(self, path: str, timeout: float | None = None,
                            socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
        with _naming_the_deadline():
            return _DeadlineStream(self._inner.connect_unix_socket(
                path, _left(timeout, httpcore.ConnectTimeout), socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (same arguments), whose connections honour the deadline of a
    :func:`post_within` running in the same thread; outside one it behaves exactly as httpx's.

    httpx takes no network backend, so the one of the connection pool it builds is wrapped (the pool is
    ``_pool``, as in every httpx release since 0.18). A proxy that the client picks from the environment
    (``HTTPS_PROXY``...) is a transport of httpx's own: through it the fallback of :func:`post_within`
    applies."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        pool = self._pool
        pool._network_backend = _DeadlineBackend(pool._network_backend)
