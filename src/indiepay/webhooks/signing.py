"""Signing of merchant webhooks: HMAC-SHA256 over ``"<timestamp>." + body``.

Sent as ``IndiePay-Signature: t=<unix seconds>,v1=<hex digest>``. A receiver recomputes the digest with
its endpoint secret and rejects a timestamp more than 300 s from its own clock, so a captured delivery
cannot be replayed later. :func:`verify` is what a merchant's receiver (and our tests) run.
"""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE_HEADER = "IndiePay-Signature"
TOLERANCE_SECONDS = 300


class WebhookSignatureError(ValueError):
    """The signature header is missing, malformed, wrong, or outside the time tolerance."""


def compute(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def header_value(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},v1={compute(secret, timestamp, body)}"


def verify(secret: str, header: str | None, body: bytes, now: int, tolerance: int = TOLERANCE_SECONDS) -> int:
    """Check a signature header against the raw body; returns the signed timestamp.

    Raises:
        WebhookSignatureError: missing/malformed header, no matching ``v1``, or |now − t| > tolerance.
    """
    if not header:
        raise WebhookSignatureError("missing signature header")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        key, sep, value = item.strip().partition("=")
        if sep:
            parts.setdefault(key, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError) as exc:
        raise WebhookSignatureError("malformed signature header") from exc
    if abs(now - timestamp) > tolerance:
        raise WebhookSignatureError("timestamp outside the tolerance window")
    expected = compute(secret, timestamp, body)
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise WebhookSignatureError("signature does not match")
    return timestamp
