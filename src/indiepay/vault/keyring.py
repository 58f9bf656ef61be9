"""Where the key-encrypting key comes from, and the vault object services use.

The KEK is 32 random bytes in URL-safe base64, from ``INDIEPAY_MASTER_KEY`` or from a key file that
must be readable by its owner only (0600). For development a key file is generated when neither exists.
The KEK id is derived from the key itself, so the database records which KEK wraps each secret without
ever holding the key.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Mapping
from pathlib import Path

from indiepay.vault.envelope import SealedSecret, VaultError, open_sealed, seal

log = logging.getLogger(__name__)


def decode_kek(text: str) -> bytes:
    """Decode a URL-safe base64 KEK and insist on 32 bytes."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        key = base64.urlsafe_b64decode(padded)
    except ValueError as exc:
        raise VaultError("master key is not URL-safe base64", code="invalid_master_key") from exc
    if len(key) != 32:
        raise VaultError("master key must be 32 bytes", code="invalid_master_key")
    return key


def kek_id_of(kek: bytes) -> str:
    return "kek_" + hashlib.sha256(b"indiepay-kek-id" + kek).hexdigest()[:12]


def load_or_create_key_file(path: Path) -> bytes:
    """Read the development key file, creating it (0600) with a warning when it does not exist."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        log.warning("generated a development master key at %s; set INDIEPAY_MASTER_KEY in production", path)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise VaultError(f"master key file {path} must be mode 0600, is {mode:o}", code="insecure_master_key")
    return decode_kek(path.read_text())


class Vault:
    """Seals and opens secrets with the current KEK; can open secrets wrapped by retired KEKs it holds."""

    def __init__(self, current: bytes, others: Mapping[str, bytes] | None = None) -> None:
        self.current_id = kek_id_of(current)
        self._keys: dict[str, bytes] = {self.current_id: current, **(others or {})}

    @classmethod
    def from_settings(cls, master_key: str | None, key_file: Path) -> Vault:
        kek = decode_kek(master_key) if master_key else load_or_create_key_file(key_file)
        return cls(kek)

    def seal(self, value: str, associated_data: bytes) -> SealedSecret:
        return seal(value, kek_id=self.current_id, kek=self._keys[self.current_id],
                    associated_data=associated_data)

    def open(self, sealed: SealedSecret, associated_data: bytes) -> str:
        kek = self._keys.get(sealed.kek_id)
        if kek is None:
            raise VaultError(f"no key-encrypting key {sealed.kek_id} is loaded", code="vault_key_missing")
        return open_sealed(sealed, kek=kek, associated_data=associated_data)
