"""Failed-authentication rate limiting: a sliding window per client IP and per presented key prefix.

An IP that fails ``per_ip`` times within ``window`` seconds, or a key prefix (a presented key's first
characters, as the audit log labels it) that fails ``per_key`` times from anywhere, is *throttled* until its
oldest failure leaves the window: a key presented from that IP or with that prefix that does not
authenticate as a merchant's key — a wrong key, or an admin key (an operator-chosen admin key may be
guessable) — is refused with 429 ``too_many_auth_failures``, never 401, so a guessing run learns nothing.
Merchants' own keys (32 random bytes each: not something a guess finds) keep working: a shop platform calls
IndiePay for all of its merchants from the same few addresses, and one merchant's stale key failing there
must not lock the others out; nor can someone who knows a key's prefix (it is shown as a label) lock that
key out by failing with it.

Two memories serve it. This module's limiter is the process's own, consulted before a key is checked at
all (a dictionary lookup, on every request). The count that holds across processes is the database's: every
failure that is not throttled is an ``auth.failed`` audit event, and a failure (or an admin key) is checked
against the events of the window (:func:`indiepay.audit.service.record_auth_failure`,
:func:`~indiepay.audit.service.auth_throttled`) — so N servers behind a load balancer allow a guesser what
one allows, not N times it. Merchants' keys never wait for that count: it is read only for a failure or the
admin key.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from indiepay.core.errors import IndiePayError

DEFAULT_PER_IP = 20
DEFAULT_PER_KEY = 20
DEFAULT_WINDOW = 60.0
MAX_TRACKED = 100_000


class TooManyAuthFailures(IndiePayError):
    """Too many failed authentications from this IP or with this key (429)."""

    code = "too_many_auth_failures"
    http_status = 429


@dataclass(frozen=True)
class FailureLimits:
    """How many failed authentications an address (``per_ip``) or a presented key's label (``per_key``) may
    have within ``window`` seconds before it is throttled."""

    per_ip: int
    per_key: int
    window: float


class AuthFailureLimiter:
    def __init__(self, per_ip: int = DEFAULT_PER_IP, per_key: int = DEFAULT_PER_KEY,
                 window: float = DEFAULT_WINDOW, now: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = per_ip
        self.per_key = per_key
        self.window = window
        self._now = now
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def limits(self) -> FailureLimits:
        return FailureLimits(self.per_ip, self.per_key, self.window)

    def throttled(self, ip: str | None) -> bool:
        """Has ``ip`` failed ``per_ip`` times within the window?"""
        return ip is not None and self._recent(f"ip:{ip}") >= self.per_ip

    def key_throttled(self, key: str | None) -> bool:
        """Has the presented key label ``key`` failed ``per_key`` times within the window?"""
        return key is not None and self._recent(f"key:{key}") >= self.per_key

    def refusal(self) -> TooManyAuthFailures:
        return TooManyAuthFailures("too many failed authentications; try again later",
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
