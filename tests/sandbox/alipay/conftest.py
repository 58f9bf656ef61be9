"""Session-wide live sandbox + notify receiver; a fresh sandbox app per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.sandbox.alipay.alipay_harness import MOUNT, Receiver, SandboxApp, provision, sandbox_parent
from tests.support.servers import serve_in_thread

from indiepay.sandbox.alipay import AlipaySandboxConfig


@pytest.fixture(scope="session")
def receiver() -> Receiver:
    return Receiver()


@pytest.fixture(scope="session")
def receiver_base(receiver: Receiver) -> Iterator[str]:
    with serve_in_thread(receiver.app()) as base:
        yield base


@pytest.fixture(scope="session")
def sandbox_base() -> Iterator[str]:
    with serve_in_thread(sandbox_parent(AlipaySandboxConfig(time_factor=1000))) as base:
        yield base + MOUNT


@pytest.fixture
def sbx(sandbox_base: str, receiver_base: str, receiver: Receiver) -> SandboxApp:
    return provision(sandbox_base, receiver_base, receiver)
