"""Runtime state of one sandbox instance: store, config, clock, fault knobs, background tasks, delivery
log, published bill files.

Fault knobs, the callback delivery log, the clock setting and bill download links live in memory only
(they are test instruments and reset on restart); merchants, orders, refunds and profit sharing live in the
:class:`~.store.SandboxStore`. ``lock`` also guards the read-check-write of profit-sharing and refund amounts
(two concurrent requests must not both spend the same frozen money).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from indiepay.sandbox.background import start_task
from indiepay.sandbox.billing import BillDownloads
from indiepay.sandbox.clock import SandboxClock
from indiepay.sandbox.wechatpay.config import WechatSandboxConfig
from indiepay.sandbox.wechatpay.store import SandboxStore


@dataclass
class Faults:
    """Per-merchant fault knobs (see the package docstring for their meaning)."""

    drop_callbacks: int = 0
    duplicate_callbacks: bool = False
    callback_delay_seconds: float = 0.0
    signtest_probe: bool = False
    fail_with_500: int = 0
    hang_seconds: float = 0.0
    profitsharing_close_reason: str = ""  # non-empty: profit-sharing receivers end CLOSED with this reason
    bill_faults: list[dict[str, Any]] = field(default_factory=list)  # queued, see indiepay.sandbox.billing

    @classmethod
    def names(cls) -> set[str]:
        """The scalar knobs a ``POST /_faults`` may set directly (bill faults are queued one at a time)."""
        return {f.name for f in fields(cls)} - {"bill_faults"}

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SandboxState:
    config: WechatSandboxConfig
    store: SandboxStore
    faults: dict[str, Faults] = field(default_factory=dict)
    deliveries: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    clock: SandboxClock = field(default_factory=SandboxClock)
    downloads: BillDownloads = field(default_factory=BillDownloads)
    bill_log: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def faults_for(self, mchid: str) -> Faults:
        with self.lock:
            return self.faults.setdefault(mchid, Faults())

    def take_counter(self, mchid: str, name: str) -> bool:
        """Consume one unit of a countdown knob (``drop_callbacks``, ``fail_with_500``)."""
        with self.lock:
            knobs = self.faults.setdefault(mchid, Faults())
            value = int(getattr(knobs, name))
            if value <= 0:
                return False
            setattr(knobs, name, value - 1)
            return True

    def take_flag(self, mchid: str, name: str) -> bool:
        """Consume a one-shot boolean knob (``signtest_probe``)."""
        with self.lock:
            knobs = self.faults.setdefault(mchid, Faults())
            if not getattr(knobs, name):
                return False
            setattr(knobs, name, False)
            return True

    def log_delivery(self, mchid: str, entry: dict[str, Any]) -> None:
        with self.lock:
            self.deliveries.setdefault(mchid, []).append(entry)

    def spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Start a background task on the running loop (lifespan events do not run for mounted apps)."""
        start_task(self.tasks, coro, what=what)
