"""Fixtures for the Alipay client tests."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from tests.channels.alipay.alipay_fakes import GATEWAY, FakeGateway, Keys, new_keys

from indiepay.channels.alipay import build_adapter
from indiepay.channels.alipay.adapter import AlipayAdapter
from indiepay.core.clock import FixedClock


@pytest.fixture(scope="session")
def keys() -> Keys:
    return new_keys()


@pytest.fixture
def gateway(keys: Keys) -> FakeGateway:
    return FakeGateway(keys)


@pytest.fixture
def adapter(keys: Keys, gateway: FakeGateway) -> AlipayAdapter:
    http = httpx.Client(transport=httpx.MockTransport(gateway))
    clock = FixedClock(datetime(2025, 3, 1, 4, 0, 0, tzinfo=UTC))
    return build_adapter(keys.credentials(), GATEWAY, http, clock)
