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
    return SealedSecret(kek_id=kek_id, wrapped_dek=_wrap_dek(dek, kek_id=kek_id, kek=kek),
                        ciphertext=_b64(ciphertext), fingerprint=fingerprint(value), last4=visible_tail(value))


def _wrap_dek(dek: bytes, *, kek_id: str, kek: bytes) -> str:
    """The DEK under the KEK, with the KEK's id as associated data so a relabelled wrap fails to open."""
    nonce = os.urandom(NONCE_BYTES)
    return _b64(nonce + AESGCM(kek).encrypt(nonce, dek, kek_id.encode("ascii")))


def _unwrap_dek(sealed: SealedSecret, kek: bytes) -> bytes:
    wrapped = _unb64(sealed.wrapped_dek)
    return AESGCM(kek).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], sealed.kek_id.encode("ascii"))


def open_sealed(sealed: SealedSecret, *, kek: bytes, associated_data: bytes) -> str:
    """Unwrap the DEK and decrypt the value. Raises VaultError when anything does not match."""
    try:
        dek = _unwrap_dek(sealed, kek)
        blob = _unb64(sealed.ciphertext)
        plain = AESGCM(dek).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except (InvalidTag, ValueError) as exc:
        raise VaultError("secret could not be decrypted (wrong key or moved ciphertext)") from exc
    return plain.decode("utf-8")


def rewrap(sealed: SealedSecret, *, kek: bytes, new_kek_id: str, new_kek: bytes) -> SealedSecret:
    """The same secret with its DEK re-wrapped under ``new_kek``; the value's ciphertext is kept as is.

    KEK rotation goes through here rather than open + seal so that it never handles a plaintext and needs
    no knowledge of the secret's associated data (whose row it is): the value keeps its binding, and the
    result opens to exactly the same plaintext. Raises VaultError when ``kek`` does not unwrap the DEK.
    """
    try:
        dek = _unwrap_dek(sealed, kek)
    except (InvalidTag, ValueError) as exc:
        raise VaultError(f"the data key of a secret wrapped by {sealed.kek_id} could not be unwrapped "
                         "(wrong key or tampered wrap)") from exc
    return SealedSecret(kek_id=new_kek_id, wrapped_dek=_wrap_dek(dek, kek_id=new_kek_id, kek=new_kek),
                        ciphertext=sealed.ciphertext, fingerprint=sealed.fingerprint, last4=sealed.last4)
