"""Pure key-lifecycle rules: certificate expiry from credentials, and which reminders are due.

Credentials are the plain values a channel's ``validate`` accepted, before sealing. Any value may hold
one or more X.509 certificates in PEM (a WeChat Pay platform certificate pasted as the public key, say);
everything else (private keys, public keys, ids) is ignored.

Reminders: the merchant is reminded to rotate its keys 90 and again 180 days after they were issued,
and alerted 30, 7 and 1 days before the earliest certificate expires. Each fires once. After downtime a
missed one fires when next checked — but only the most urgent one that is due: a 30-day alert is never
sent once the 7-day one is due, and a 90-day reminder never once the 180-day one is.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509

from indiepay.core.errors import InvalidRequest

EXPIRY = "key_expiry"
ROTATION = "key_rotation"
EXPIRY_DAYS = (30, 7, 1)  # days before expiry, least urgent first
ROTATION_DAYS = (90, 180)  # days after issue, least urgent first
EXPIRY_SEVERITY = {30: "warning", 7: "high", 1: "critical"}
ROTATION_SEVERITY = {90: "warning", 180: "high"}

_BEGIN = "-----BEGIN CERTIFICATE-----"
_END = "-----END CERTIFICATE-----"
_PEM_BLOCK = re.compile(re.escape(_BEGIN) + r".*?" + re.escape(_END), re.DOTALL)


@dataclass(frozen=True)
class Reminder:
    """One reminder that is due: ``kind`` is ``key_expiry`` or ``key_rotation``; ``days`` its threshold."""

    kind: str
    days: int
    severity: str
    due_at: datetime

    @property
    def slot(self) -> tuple[str, int]:
        return (self.kind, self.days)


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", code="invalid_certificate", details={"field": field})


def certificates(credentials: Mapping[str, str]) -> list[tuple[str, x509.Certificate]]:
    """Every PEM certificate among the credential values, as ``(field, certificate)``.

    Raises:
        InvalidRequest: ``invalid_certificate`` (``details.field``) for a certificate PEM block that is
            unterminated or does not parse.
    """
    found: list[tuple[str, x509.Certificate]] = []
    for field in sorted(credentials):
        value = credentials[field]
        if not isinstance(value, str) or _BEGIN not in value:
            continue
        blocks = _PEM_BLOCK.findall(value)
        if len(blocks) != value.count(_BEGIN):
            raise _invalid(field, "a PEM certificate is not terminated by its END line")
        for block in blocks:
            try:
                found.append((field, x509.load_pem_x509_certificate(block.encode("ascii"))))
            except (ValueError, UnicodeEncodeError):
                raise _invalid(field, "the PEM certificate does not parse") from None
    return found


def earliest_expiry(credentials: Mapping[str, str]) -> datetime | None:
    """The earliest ``not_valid_after`` (aware UTC) of the certificates among ``credentials``, or ``None``
    when they hold no certificate. Raises ``invalid_certificate`` as :func:`certificates` does."""
    ends = [cert.not_valid_after_utc for _, cert in certificates(credentials)]
    return min(ends).astimezone(UTC) if ends else None


def reminders_due(now: datetime, issued_at: datetime, expires_at: datetime | None,
                  already_sent: Collection[tuple[str, int]]) -> list[Reminder]:
    """The reminders to send at ``now``: at most one rotation reminder and one expiry alert.

    ``already_sent`` holds the ``(kind, days)`` slots sent before. For each kind only the most urgent
    due slot is considered; it is returned unless already sent (so a less urgent one that was missed
    is dropped for good).
    """
    due: list[Reminder] = []
    rotation = [Reminder(ROTATION, days, ROTATION_SEVERITY[days], issued_at + timedelta(days=days))
                for days in ROTATION_DAYS]
    due.extend(_most_urgent(now, rotation, already_sent))
    if expires_at is not None:
        expiry = [Reminder(EXPIRY, days, EXPIRY_SEVERITY[days], expires_at - timedelta(days=days))
                  for days in EXPIRY_DAYS]
        due.extend(_most_urgent(now, expiry, already_sent))
    return due


def _most_urgent(now: datetime, ladder: list[Reminder],
                 already_sent: Collection[tuple[str, int]]) -> list[Reminder]:
    reached = [reminder for reminder in ladder if reminder.due_at <= now]
    if not reached:
        return []
    urgent = reached[-1]  # the ladder runs least urgent first
    return [] if urgent.slot in already_sent else [urgent]
