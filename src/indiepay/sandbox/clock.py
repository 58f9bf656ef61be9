"""The sandbox gateways' business clock, which tests may move.

Bills only exist for days that have ended, so a test of "yesterday's bill" needs a gateway that believes
it is tomorrow. Each gateway instance has one :class:`SandboxClock`: it runs with real time, shifted by an
offset, or stands still at a fixed instant. It stamps the times the gateway *records* (payment success,
refund success, order creation) and decides which bills are published. It does not govern the 300 s
signature windows, order expiry or callback retry delays: those compare against the clients' clocks
and real waiting, which a moved sandbox clock cannot change.

Control (both gateways, sandbox-only, unauthenticated): ``GET /_clock`` → ``{"now", "offset_seconds",
"frozen"}``; ``POST /_clock`` ``{"now": RFC 3339 instant}`` (jump there and keep running),
``{"now": …, "frozen": true}`` (stand still there), or ``{"offset_seconds": float}``; ``DELETE /_clock``
returns to real time. The setting lives in memory: a restarted gateway runs on real time again.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any


class ClockError(ValueError):
    """A ``/_clock`` request that does not describe a time."""


class SandboxClock:
    """Real UTC time plus an offset, or a frozen instant. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset = timedelta(0)
        self._frozen: datetime | None = None

    def now(self) -> datetime:
        """The gateway's current instant, aware UTC."""
        with self._lock:
            if self._frozen is not None:
                return self._frozen
            return datetime.now(UTC) + self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset, self._frozen = timedelta(0), None

    def update(self, data: dict[str, Any]) -> None:
        """Apply a ``POST /_clock`` body (see the module docstring).

        Raises:
            ClockError: unknown fields, a naive or unparsable ``now``, a non-numeric offset, or both.
        """
        unknown = set(data) - {"now", "offset_seconds", "frozen"}
        if unknown:
            raise ClockError(f"unknown clock fields: {sorted(unknown)}")
        frozen = data.get("frozen", False)
        if not isinstance(frozen, bool):
            raise ClockError("frozen must be a boolean")
        if "now" in data and "offset_seconds" in data:
            raise ClockError("give now or offset_seconds, not both")
        if "now" in data:
            try:
                target = datetime.fromisoformat(str(data["now"]))
            except ValueError:
                raise ClockError("now must be an RFC 3339 instant") from None
            if target.tzinfo is None:
                raise ClockError("now must carry a UTC offset")
            target = target.astimezone(UTC)
            with self._lock:
                self._offset = target - datetime.now(UTC)
                self._frozen = target if frozen else None
            return
        offset = data.get("offset_seconds", 0)
        if not isinstance(offset, int | float) or isinstance(offset, bool):
            raise ClockError("offset_seconds must be a number")
        with self._lock:
            self._offset = timedelta(seconds=offset)
            self._frozen = datetime.now(UTC) + self._offset if frozen else None

    def view(self) -> dict[str, Any]:
        with self._lock:
            frozen = self._frozen
            offset = self._offset
        now = frozen if frozen is not None else datetime.now(UTC) + offset
        return {"now": now.isoformat(), "offset_seconds": offset.total_seconds(), "frozen": frozen is not None}
