"""Envelope encryption of one secret.

Each secret gets its own random 256-bit data key (DEK). The value is sealed with AES-256-GCM under the
DEK with associated data that binds it to its merchant, account and field, so a ciphertext copied into
another row fails to open. The DEK is wrapped with AES-256-GCM under the key-encrypting key (KEK), which
lives outside the database (``INDIEPAY_MASTER_KEY`` or a 0600 key file). Rotating the KEK re-wraps DEKs
without touching the values.
"""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from indiepay.core.errors import IndiePayError

NONCE_BYTES = 12


class VaultError(IndiePayError):
    """A secret could not be opened: wrong key, tampered ciphertext, or moved to another row."""

    code = "vault_error"
    http_status = 500


@dataclass(frozen=True)
class SealedSecret:
    """What the database stores for one secret (all text, safe to put in JSON)."""

    kek_id: str
    wrapped_dek: str
    ciphertext: str
    fingerprint: str
    last4: str

    def as_dict(self) -> dict[str, str]:
        return {"kek_id": self.kek_id, "wrapped_dek": self.wrapped_dek, "ciphertext": self.ciphertext,
                "fingerprint": self.fingerprint, "last4": self.last4}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> SealedSecret:
        return cls(kek_id=data["kek_id"], wrapped_dek=data["wrapped_dek"], ciphertext=data["ciphertext"],
                   fingerprint=data["fingerprint"], last4=data["last4"])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"))


def fingerprint(value: str) -> str:
    """A short, non-reversible identifier of a secret, for display and comparison."""
    return "sha256:" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:16]


def visible_tail(value: str) -> str:
    """The last four characters, ignoring PEM armour and whitespace, so keys show something useful."""
    body = "".join(line for line in value.strip().splitlines() if not line.startswith("-----"))
    body = "".join(body.split())
    return body[-4:] if len(body) >= 8 else "****"


def seal(value: str, *, kek_id: str, kek: bytes, associated_data: bytes) -> SealedSecret:
    """Encrypt ``value`` under a fresh DEK and wrap the DEK under ``kek``."""
    dek = AESGCM.generate_key(bit_length=256)
    nonce = os.urandom(NONCE_BYTES)
    ciphertext = nonce + AESGCM(dek).encrypt(nonce, value.encode("utf-8"), associated_data)
    wrap_nonce = os.urandom(NONCE_BYTES)
    wrapped = wrap_nonce + AESGCM(kek).encrypt(wrap_nonce, dek, kek_id.encode("ascii"))
    return SealedSecret(kek_id=kek_id, wrapped_dek=_b64(wrapped), ciphertext=_b64(ciphertext),
                        fingerprint=fingerprint(value), last4=visible_tail(value))


def open_sealed(sealed: SealedSecret, *, kek: bytes, associated_data: bytes) -> str:
    """Unwrap the DEK and decrypt the value. Raises VaultError when anything does not match."""
    try:
        wrapped = _unb64(sealed.wrapped_dek)
        dek = AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], sealed.kek_id.encode("ascii"))
        blob = _unb64(sealed.ciphertext)
        plain = AESGCM(dek).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as exc:
        raise VaultError("secret could not be decrypted (wrong key or moved ciphertext)") from exc
    return plain.decode("utf-8")
