"""Adapters built per account from that account's own decrypted credentials, cached per credential
version so a process does not re-open the vault and re-load RSA keys for every call.

The cache key is the account id plus a *version* of its credentials — a digest of every sealed field's
plaintext fingerprint — and of the previous credentials it still accepts callbacks under. A rotation made
by any process changes the row, so every process builds a fresh adapter on its next use of the account,
whatever the clocks say; a vault re-wrap (same plaintexts) keeps the adapter. Nothing here breaks with
several processes.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping
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


def credentials_version(sealed: Mapping[str, Any] | None) -> str:
    """A digest of which plaintexts a sealed credential set holds (from the stored fingerprints)."""
    if not sealed:
        return ""
    listing = "\n".join(f"{name}={sealed[name]['fingerprint']}" for name in sorted(sealed))
    return hashlib.sha256(listing.encode()).hexdigest()[:32]


class AdapterCache:
    """Hands out the adapter of a channel account; thread-safe."""

    def __init__(self, vault: Vault, http: httpx.Client, clock: Clock) -> None:
        self.vault = vault
        self.http = http
        self.clock = clock
        self._lock = threading.Lock()
        self._adapters: dict[tuple[str, str, str, str], ChannelAdapter] = {}

    def get(self, *, account_id: str, merchant_id: str, channel: str, base_url: str,
            sealed: Mapping[str, Any], previous: Mapping[str, Any] | None = None) -> ChannelAdapter:
        """The adapter for these credentials; ``previous`` (a rotation's replaced set, within its grace
        window) makes it also accept callbacks verified under the old set."""
        key = (account_id, credentials_version(sealed), credentials_version(previous), base_url)
        with self._lock:
            adapter = self._adapters.get(key)
        if adapter is not None:
            return adapter
        credentials = open_credentials(self.vault, merchant_id, account_id, sealed)
        old = open_credentials(self.vault, merchant_id, account_id, previous) if previous else None
        adapter = build_adapter(channel, credentials, base_url, self.http, self.clock, previous=old)
        with self._lock:
            stale = [k for k in self._adapters if k[0] == account_id and k != key]
            replaced = [self._adapters.pop(k) for k in stale]
        for before in replaced:
            adapter.carry_over(before)  # e.g. WeChat's platform certificates: no re-fetch after a rotation
        with self._lock:
            self._adapters[key] = adapter
        return adapter
