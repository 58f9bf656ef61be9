"""Adapters built per account from that account's own decrypted credentials, cached per credential
version so a process does not re-open the vault and re-load RSA keys for every call.

The cache key includes the account's ``updated_at``, so a credential change made by any process is seen
by every process on its next use: nothing here breaks with several processes.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from indiepay.channels.base import ChannelAdapter
from indiepay.channels.registry import build_adapter
from indiepay.core.clock import Clock
from indiepay.vault.envelope import SealedSecret
from indiepay.vault.keyring import Vault


def credential_aad(merchant_id: str, account_id: str, field: str) -> bytes:
    """Associated data binding a sealed credential to its merchant, account and field."""
    return f"indiepay/credential/{merchant_id}/{account_id}/{field}".encode()


def open_credentials(vault: Vault, merchant_id: str, account_id: str,
                     sealed: Mapping[str, Any]) -> dict[str, str]:
    return {name: vault.open(SealedSecret.from_dict(value), credential_aad(merchant_id, account_id, name))
            for name, value in sealed.items()}


class AdapterCache:
    """Hands out the adapter of a channel account; thread-safe."""

    def __init__(self, vault: Vault, http: httpx.Client, clock: Clock) -> None:
        self.vault = vault
        self.http = http
        self.clock = clock
        self._lock = threading.Lock()
        self._adapters: dict[tuple[str, datetime], ChannelAdapter] = {}

    def get(self, *, account_id: str, merchant_id: str, channel: str, base_url: str, updated_at: datetime,
            sealed: Mapping[str, Any]) -> ChannelAdapter:
        key = (account_id, updated_at)
        with self._lock:
            adapter = self._adapters.get(key)
        if adapter is not None:
            return adapter
        credentials = open_credentials(self.vault, merchant_id, account_id, sealed)
        adapter = build_adapter(channel, credentials, base_url, self.http, self.clock)
        with self._lock:
            stale = [k for k in self._adapters if k[0] == account_id and k != key]
            for k in stale:
                del self._adapters[k]
            self._adapters[key] = adapter
        return adapter
