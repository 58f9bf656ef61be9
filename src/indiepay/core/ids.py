"""Prefixed, opaque, unguessable identifiers (``pay_…``, ``mch_…``)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    """Return ``prefix_`` followed by ``length`` random base-36 characters (~124 bits for 24).

    One draw of random bytes, then base-36 digits (``secrets.choice`` per character cost ~80 µs per id).
    """
    number = int.from_bytes(secrets.token_bytes(length), "big")
    digits = []
    for _ in range(length):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return f"{prefix}_{''.join(digits)}"
