"""Failed-authentication rate limiting: a sliding window per client IP and per presented key.

An IP that fails ``per_ip`` times within ``window`` seconds is refused (429 ``too_many_auth_failures``)
until its oldest failure leaves the window — that IP only: other IPs, and so other merchants, are not
affected. The same holds per presented key label (its first characters), which stops one guessed key being
tried from many addresses. In-memory and per process: a brake on guessing, not an accounting system.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from indiepay.core.errors import IndiePayError

DEFAULT_PER_IP = 20
DEFAULT_PER_KEY = 20
DEFAULT_WINDOW = 60.0
MAX_TRACKED = 100_000


class TooManyAuthFailures(IndiePayError):
    """Too many failed authentications from this IP or with this key (429)."""

    code = "too_many_auth_failures"
    http_status = 429


class AuthFailureLimiter:
    def __init__(self, per_ip: int = DEFAULT_PER_IP, per_key: int = DEFAULT_PER_KEY,
                 window: float = DEFAULT_WINDOW, now: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = per_ip
        self.per_key = per_key
        self.window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def check(self, ip: str | None, key: str | None) -> None:
        """Raise :class:`TooManyAuthFailures` when ``ip`` or ``key`` is over its limit."""
        for name, limit in ((f"ip:{ip}", self.per_ip), (f"key:{key}", self.per_key)):
            if name.endswith(":None"):
                continue
            recent = self._recent(name)
            if recent >= limit:
                raise TooManyAuthFailures("too many failed authentications; try again later",
                                          details={"retry_after_seconds": int(self.window)})

    def failed(self, ip: str | None, key: str | None) -> None:
        now = self._now()
        with self._lock:
            if len(self._failures) >= MAX_TRACKED:
                self._failures.clear()
            for name in (f"ip:{ip}", f"key:{key}"):
                if not name.endswith(":None"):
                    self._failures.setdefault(name, deque()).append(now)

    def _recent(self, name: str) -> int:
        with self._lock:
            times = self._failures.get(name)
            if not times:
                return 0
            cutoff = self._now() - self.window
            while times and times[0] <= cutoff:
                times.popleft()
            if not times:
                del self._failures[name]
                return 0
            return len(times)
