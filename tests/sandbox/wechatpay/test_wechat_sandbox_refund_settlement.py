"""The sandbox settles a refund once it is due and sends its callback — even when the event loop's timer
wakes the settling task before the refund's wall-clock settle time (it waits again, never gives up)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from indiepay.sandbox.wechatpay import orders, routes_v3
from indiepay.sandbox.wechatpay.config import REFUND_SETTLE_SECONDS, WechatSandboxConfig
from indiepay.sandbox.wechatpay.state import SandboxState
from indiepay.sandbox.wechatpay.store import SandboxStore


def _refund(settle_in: float) -> dict[str, Any]:
    order = {"mchid": "1900000001", "out_trade_no": "T1", "transaction_id": "4200000001", "total": 2_550,
             "notify_url": "http://127.0.0.1:9/notify"}
    return orders.new_refund(order, "R1", 550, None, None, settle_in, datetime.now(UTC))


def test_an_early_timer_does_not_lose_the_refund_callback(monkeypatch: pytest.MonkeyPatch) -> None:
    config = WechatSandboxConfig(time_factor=100)  # refunds settle 50 ms after they are asked for
    state = SandboxState(config=config, store=SandboxStore(None))
    state.store.put_refund(_refund(settle_in=REFUND_SETTLE_SECONDS / config.time_factor))
    sent: list[tuple[str, datetime]] = []
    monkeypatch.setattr(routes_v3, "send_callback",
                        lambda _s, _m, _u, event_type, *_: sent.append((event_type, datetime.now(UTC))))
    real_sleep = asyncio.sleep
    wakeups: list[float] = []

    async def early_sleep(seconds: float) -> None:  # a timer that fires at a third of the delay asked
        wakeups.append(seconds)
        await real_sleep(seconds / 3)

    monkeypatch.setattr(asyncio, "sleep", early_sleep)
    asyncio.run(routes_v3._settle_later(state, "1900000001", "R1"))
    refund = state.store.get_refund("1900000001", "R1")
    assert refund is not None and refund["status"] == "SUCCESS" and refund["success_time"]
    assert [event for event, _ in sent] == ["REFUND.SUCCESS"]
    assert sent[0][1] >= datetime.fromisoformat(refund["settle_at"])  # not before it was due
    assert len(wakeups) >= 2  # woken early at least once, and waited again


def test_a_refund_settled_meanwhile_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    state = SandboxState(config=WechatSandboxConfig(), store=SandboxStore(None))
    state.store.put_refund({**_refund(settle_in=-1), "status": "SUCCESS"})  # a query settled it first
    sent: list[str] = []
    monkeypatch.setattr(routes_v3, "send_callback", lambda *args: sent.append(args[3]))
    asyncio.run(routes_v3._settle_later(state, "1900000001", "R1"))
    assert sent == []  # whoever settles it sends the one callback
