"""Prefixed, opaque, unguessable identifiers (``pay_…``, ``mch_…``)."""

from __future__ import annotations

import secrets

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def new_id(prefix: str, length: int = 24) -> str:
    """Return ``prefix_`` followed by ``length`` random base-36 characters (~124 bits for 24)."""
    body = "".join(secrets.choice(_ALPHABET) for _ in range(length))
    return f"{prefix}_{body}"
