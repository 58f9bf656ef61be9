"""What a failed HTTP exchange with a gateway means, the same for every channel.

The request never left (no connection, no pooled connection free in time): definitely not carried out, safe
to send again. It left but no answer came (a timeout, a broken connection): for a call that changes
something at the channel the outcome is unknown and only a query can tell; for a read it is simply worth
asking again. Anything else httpx raises is treated as unknown.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from indiepay.channels.base import ChannelError, RetryableChannelError, UnknownOutcomeError


def exchange(send: Callable[[], httpx.Response], *, gateway: str, mutating: bool) -> httpx.Response:
    """``send()``'s response, or the :mod:`indiepay.channels.base` error its failure means."""
    try:
        return send()
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryableChannelError(f"cannot reach {gateway}: {exc!r}") from exc
    except (httpx.TimeoutException, httpx.TransportError) as exc:
        error: type[ChannelError] = UnknownOutcomeError if mutating else RetryableChannelError
        what = "timed out" if isinstance(exc, httpx.TimeoutException) else "broke off"
        raise error(f"{gateway} {what}: {exc!r}") from exc
    except httpx.HTTPError as exc:
        raise UnknownOutcomeError(f"{gateway}: transport error: {exc!r}") from exc
