"""Session-wide live UnionPay sandbox (time factor 1000) with its notify receiver; a fresh merchant per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.sandbox.unionpay.unionpay_sandbox_support import Merchant, Sandbox, running_sandbox

from indiepay.sandbox.unionpay import UnionpaySandboxConfig


@pytest.fixture(scope="session")
def sandbox() -> Iterator[Sandbox]:
    with running_sandbox(UnionpaySandboxConfig(time_factor=1000)) as running:
        yield running


@pytest.fixture
def merchant(sandbox: Sandbox) -> Merchant:
    return sandbox.provision()
