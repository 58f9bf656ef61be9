"""Which WeChat Pay key verifies a response or a callback: the ``Wechatpay-Serial`` header decides.

Older merchant accounts are verified with *platform certificates*, which WeChat rotates and serves
(encrypted) from ``GET /v3/certificates``; newer ones with a fixed *WeChat Pay public key* named
``PUB_KEY_ID_…``. During the migration from one to the other an account holds both, and WeChat may sign
with either. So the store answers by serial: the public key if the serial is its id, a cached certificate
otherwise, and on a serial it has never seen it re-fetches the certificate list once (a rotation just
happened). Serials that stay unknown are remembered for a minute so that forged callbacks with random
serials cannot make us hammer the gateway.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric import rsa

from indiepay.core.clock import Clock

PUBLIC_KEY_ID_PREFIX = "PUB_KEY_ID_"
NEGATIVE_CACHE_TTL = timedelta(seconds=60)

CertificateFetcher = Callable[[], Mapping[str, rsa.RSAPublicKey]]


class KeyResolver(Protocol):
    """Anything that names the WeChat Pay key for a ``Wechatpay-Serial``."""

    def resolve(self, serial: str) -> rsa.RSAPublicKey | None: ...


class PlatformKeys:
    """Thread-safe key lookup by serial for one merchant account."""

    def __init__(self, *, public_key_id: str | None, public_key: rsa.RSAPublicKey | None,
                 fetcher: CertificateFetcher | None, clock: Clock) -> None:
        self._public_key_id = public_key_id
        self._public_key = public_key
        self._fetcher = fetcher
        self._clock = clock
        self._certificates: dict[str, rsa.RSAPublicKey] = {}
        self._unknown: dict[str, datetime] = {}
        self._lock = threading.Lock()
        self.fetch_count = 0

    @property
    def public_key_id(self) -> str | None:
        return self._public_key_id

    @property
    def public_key(self) -> rsa.RSAPublicKey | None:
        return self._public_key

    def add_certificate(self, serial: str, key: rsa.RSAPublicKey) -> None:
        """Trust a platform certificate's key under its (upper-case hex) serial."""
        with self._lock:
            self._certificates[serial.upper()] = key
            self._unknown.pop(serial.upper(), None)

    def certificates(self) -> dict[str, rsa.RSAPublicKey]:
        """The platform certificates' keys trusted so far, by serial."""
        with self._lock:
            return dict(self._certificates)

    def known_serials(self) -> list[str]:
        with self._lock:
            serials = sorted(self._certificates)
        return [*serials, self._public_key_id] if self._public_key_id else serials

    def resolve(self, serial: str) -> rsa.RSAPublicKey | None:
        """The key named by ``serial``, fetching the certificate list once if the serial is new.

        Returns None when no trusted key has that serial. Errors while fetching count as "unknown".
        """
        if self._public_key_id is not None and serial == self._public_key_id:
            return self._public_key
        if serial.startswith(PUBLIC_KEY_ID_PREFIX):
            return None
        wanted = serial.upper()
        with self._lock:
            if wanted in self._certificates:
                return self._certificates[wanted]
            if self._fetcher is None:
                return None
            seen = self._unknown.get(wanted)
            now = self._clock.now()
            if seen is not None and now - seen < NEGATIVE_CACHE_TTL:
                return None
            self.fetch_count += 1
            try:
                fetched = dict(self._fetcher())
            except Exception:  # any failure to refresh just leaves the serial unknown
                fetched = {}
            for fetched_serial, key in fetched.items():
                self._certificates[fetched_serial.upper()] = key
            found = self._certificates.get(wanted)
            if found is None:
                self._unknown[wanted] = now
            return found


class ChainedKeys:
    """Asks several key stores in turn; the first that knows the serial answers.

    Used for the credentials a rotation replaced: WeChat Pay's own keys did not change with the
    merchant's, so the previous set resolves serials through the *current* store first (its cached
    platform certificates, fetched and decrypted with the current APIv3 key — the old key no longer
    decrypts the list) and only then through the keys the previous set itself carried (a public key).
    """

    def __init__(self, stores: Sequence[KeyResolver]) -> None:
        self._stores = tuple(stores)

    def resolve(self, serial: str) -> rsa.RSAPublicKey | None:
        for store in self._stores:
            key = store.resolve(serial)
            if key is not None:
                return key
        return None
