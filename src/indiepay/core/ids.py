"""Prefixed, opaque, unguessable identifiers (``pay_…``, ``mch_…``)."""

from __future__ import annotations

import secrets


def new_id(prefix: str, length: int = 24) -> str:
    """Return ``prefix_`` followed by ``length`` random hex characters (4 bits each: 96 bits for 24, far
    beyond guessing, e.g. for the public ``/pay/{payment_id}`` page).

    One draw of random bytes, hex-encoded in C: ids are made several times per payment and thousands of
    times per ledger batch, so a per-character Python loop (or the pure-Python base-32 encoder) would show
    up in every benchmark.
    """
    return f"{prefix}_{secrets.token_hex((length + 1) // 2)[:length]}"
