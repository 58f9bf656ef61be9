"""What a failed exchange with any gateway means: not sent → retry; sent, no answer → unknown if it changes
something (query to learn), retry if it only reads."""

from __future__ import annotations

import httpx
import pytest

from indiepay.channels.base import RetryableChannelError, UnknownOutcomeError
from indiepay.channels.transport import exchange


def _raising(error: Exception):  # type: ignore[no-untyped-def]
    def send() -> httpx.Response:
        raise error
    return send


@pytest.mark.parametrize("error,mutating,expected", [
    (httpx.ConnectError("refused"), True, RetryableChannelError),
    (httpx.ConnectTimeout("slow connect"), True, RetryableChannelError),
    (httpx.PoolTimeout("no free connection"), True, RetryableChannelError),
    (httpx.ReadTimeout("no answer"), True, UnknownOutcomeError),
    (httpx.ReadTimeout("no answer"), False, RetryableChannelError),
    (httpx.RemoteProtocolError("cut off"), True, UnknownOutcomeError),
    (httpx.RemoteProtocolError("cut off"), False, RetryableChannelError),
    (httpx.TooManyRedirects("loop"), False, UnknownOutcomeError),
])
def test_each_failure_maps_to_what_it_means(error: Exception, mutating: bool, expected: type[Exception]) -> None:
    with pytest.raises(expected) as raised:
        exchange(_raising(error), gateway="the gateway", mutating=mutating)
    assert type(raised.value) is expected and raised.value.__cause__ is error


def test_a_response_passes_through() -> None:
    response = httpx.Response(200)
    assert exchange(lambda: response, gateway="the gateway", mutating=True) is response
