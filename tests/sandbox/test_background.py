"""The gateways' background tasks: held until done, and a failure is logged rather than lost."""

from __future__ import annotations

import asyncio
import logging

import pytest

from indiepay.sandbox.background import start_task


def test_a_failing_task_is_logged_with_what_it_carried(caplog: pytest.LogCaptureFixture) -> None:
    tasks: set[asyncio.Task[None]] = set()

    async def broken() -> None:
        raise RuntimeError("store unavailable")

    async def fine() -> None:
        await asyncio.sleep(0)

    async def main() -> None:
        start_task(tasks, broken(), what="REFUND.SUCCESS callback to http://x/notify")
        start_task(tasks, fine(), what="settle refund R1")
        assert len(tasks) == 2  # held while running
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="indiepay.sandbox.background"):
        asyncio.run(main())
    assert tasks == set()
    failures = [r for r in caplog.records if r.name == "indiepay.sandbox.background"]
    assert len(failures) == 1
    assert "REFUND.SUCCESS callback to http://x/notify" in failures[0].getMessage()
    assert failures[0].exc_info is not None and "store unavailable" in str(failures[0].exc_info[1])


def test_a_cancelled_task_is_not_a_failure(caplog: pytest.LogCaptureFixture) -> None:
    tasks: set[asyncio.Task[None]] = set()

    async def main() -> None:
        task = start_task(tasks, asyncio.sleep(10), what="slow")
        await asyncio.sleep(0)
        task.cancel()
        await asyncio.sleep(0.01)

    with caplog.at_level(logging.ERROR, logger="indiepay.sandbox.background"):
        asyncio.run(main())
    assert tasks == set() and not [r for r in caplog.records if r.name == "indiepay.sandbox.background"]
