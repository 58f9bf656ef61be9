"""Where the key-encrypting key comes from, and the vault object services use.

The KEK is 32 random bytes in URL-safe base64, from ``INDIEPAY_MASTER_KEY`` or from a key file that
must be readable by its owner only (0600). For development a key file is generated when neither exists.
The KEK id is derived from the key itself, so the database records which KEK wraps each secret without
ever holding the key.

Rotation: the operator installs a new KEK as the current one and moves the old one to
``INDIEPAY_RETIRED_MASTER_KEYS``. Retired KEKs only *open* (and re-wrap) what they still wrap; nothing is
ever sealed under them, so once ``indiepay vault rotate`` has re-wrapped everything they can be removed.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import secrets
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from indiepay.vault.envelope import SealedSecret, VaultError, open_sealed, rewrap, seal

log = logging.getLogger(__name__)


def decode_kek(text: str, *, what: str = "master key") -> bytes:
    """Decode a URL-safe base64 KEK and insist on 32 bytes (``what`` names it in errors, never the key)."""
    padded = text.strip() + "=" * (-len(text.strip()) % 4)
    try:
        key = base64.urlsafe_b64decode(padded)
    except ValueError as exc:
        raise VaultError(f"{what} is not URL-safe base64", code="invalid_master_key") from exc
    if len(key) != 32:
        raise VaultError(f"{what} must be 32 bytes", code="invalid_master_key")
    return key


def decode_retired_keys(text: str | None) -> list[bytes]:
    """The KEKs of ``INDIEPAY_RETIRED_MASTER_KEYS``: comma-separated URL-safe base64, blanks ignored."""
    parts = [part.strip() for part in (text or "").split(",")]
    return [decode_kek(part, what=f"retired master key #{number}")
            for number, part in enumerate((p for p in parts if p), start=1)]


def new_kek() -> str:
    """A fresh KEK for the operator to install: 32 random bytes, URL-safe base64 without padding."""
    return secrets.token_urlsafe(32)


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
        self._keys: dict[str, bytes] = {**(others or {}), self.current_id: current}

    @classmethod
    def with_retired(cls, current: bytes, retired: Iterable[bytes]) -> Vault:
        """A vault sealing under ``current`` that can still open what ``retired`` KEKs wrap."""
        return cls(current, {kek_id_of(kek): kek for kek in retired})

    @classmethod
    def from_settings(cls, master_key: str | None, key_file: Path, retired_keys: str | None = None) -> Vault:
        """The vault of a process: ``INDIEPAY_MASTER_KEY`` (or the key file) plus the retired KEKs.

        ``retired_keys`` is ``INDIEPAY_RETIRED_MASTER_KEYS`` as written (comma-separated). Raises
        VaultError ``invalid_master_key`` for a malformed key (the key itself is never in the message).
        """
        kek = decode_kek(master_key) if master_key else load_or_create_key_file(key_file)
        return cls.with_retired(kek, decode_retired_keys(retired_keys))

    @property
    def retired_ids(self) -> frozenset[str]:
        """Ids of the loaded KEKs other than the current one: they open old secrets, never seal."""
        return frozenset(self._keys) - {self.current_id}

    def holds(self, kek_id: str) -> bool:
        return kek_id in self._keys

    def rewrap(self, sealed: SealedSecret) -> SealedSecret:
        """``sealed`` with its DEK wrapped under the current KEK (unchanged when it already is).

        Raises VaultError ``vault_key_missing`` when the KEK that wraps it is not loaded, and
        ``vault_error`` when that KEK does not unwrap it.
        """
        if sealed.kek_id == self.current_id:
            return sealed
        return rewrap(sealed, kek=self._key_for(sealed), new_kek_id=self.current_id,
                      new_kek=self._keys[self.current_id])

    def seal(self, value: str, associated_data: bytes) -> SealedSecret:
        return seal(value, kek_id=self.current_id, kek=self._keys[self.current_id],
                    associated_data=associated_data)

    def open(self, sealed: SealedSecret, associated_data: bytes) -> str:
        return open_sealed(sealed, kek=self._key_for(sealed), associated_data=associated_data)

    def _key_for(self, sealed: SealedSecret) -> bytes:
        kek = self._keys.get(sealed.kek_id)
        if kek is None:
            raise VaultError(f"no key-encrypting key {sealed.kek_id} is loaded (is it missing from "
                             "INDIEPAY_MASTER_KEY / INDIEPAY_RETIRED_MASTER_KEYS?)", code="vault_key_missing",
                             details={"kek_id": sealed.kek_id})
        return kek
