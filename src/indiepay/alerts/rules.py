"""Pure alert rules: cap thresholds, rate-limit windows, how long deliveries retry, which SMTP refusals
are final, recipient validation and masking.

Plain functions over plain values, so they are unit-tested without a database.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

CAP_LEVELS = (80, 100)  # percent of a daily cap at which a warning is raised
MAX_EMAILS = 10
MAX_PHONES = 10

# E.164: "+", a country code that does not start with 0, at most 15 digits in all
_PHONE = re.compile(r"^\+[1-9]\d{6,14}$")
# deliberately plain: one "@", no spaces, a dotted domain; the SMTP server is the final judge
_EMAIL = re.compile(r"^[^@\s,;<>\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")


def cap_warning_levels(cap: int, used_before: int, used_after: int) -> list[int]:
    """The warning levels (percent of ``cap``) that one use crossed, lowest first.

    A level is crossed when usage was below it before and is at or above it after, so a use that jumps
    from 70 % to 100 % returns ``[80, 100]`` and a second use above 100 % returns ``[]``. Integer
    arithmetic (``used * 100 >= cap * level``) so no rounding ever decides a threshold.

    Raises:
        ValueError: ``cap`` is not positive or usage decreased.
    """
    if cap <= 0:
        raise ValueError("cap must be positive")
    if used_after < used_before:
        raise ValueError("usage cannot decrease")
    return [level for level in CAP_LEVELS
            if used_before * 100 < cap * level <= used_after * 100]


def window_start(at: datetime, window_seconds: int) -> datetime:
    """The start of the fixed rate-limit window that ``at`` falls in (windows are aligned to the epoch,
    so every process computes the same one without talking to the others)."""
    epoch = int(at.astimezone(UTC).timestamp())
    return datetime.fromtimestamp(epoch - epoch % window_seconds, UTC)


def window_end(at: datetime, window_seconds: int) -> datetime:
    return window_start(at, window_seconds) + timedelta(seconds=window_seconds)


def rate_key(merchant_id: str | None, kind: str, start: datetime, livemode: bool | None = None) -> str:
    """The counter row of one (merchant, kind, window); platform alerts count under ``operator``. Alerts
    about test data count in a window of their own, so a sandbox burst never silences a live incident."""
    return f"{merchant_id or 'operator'}:{kind}:{int(start.timestamp())}" + (":test" if livemode is False else "")


def admits(count: int, limit: int) -> bool:
    """May one more alert be delivered in a window that has delivered ``count``? (The conditional
    UPDATE in the repository applies exactly this rule, atomically.)"""
    return count < limit


def attempts_within(window: timedelta, backoff: Callable[[int], timedelta]) -> int:
    """How many attempts a delivery needs to keep trying for at least ``window``, when it waits
    ``backoff(n)`` after its n-th failed attempt: the first, then one after each wait until the waits add
    up to ``window`` (so the last attempt is ``window`` or a little more after the first).

    Raises:
        ValueError: ``backoff`` does not move time on (the count would never end).
    """
    attempts, waited = 1, timedelta(0)
    while waited < window:
        wait = backoff(attempts)
        if wait <= timedelta(0):
            raise ValueError("backoff must be positive")
        waited += wait
        attempts += 1
    return attempts


_POLICY_STATUS = re.compile(r"^\s*5\.7\.\d{1,3}\b")


def recipient_refused_for_good(code: int, reply: str) -> bool:
    """Is an SMTP server's refusal of a recipient (its ``RCPT TO`` reply) final?

    Only a 5xx that is about the recipient itself — no such mailbox (``550 5.1.1``), no such domain
    (``5.1.2``)... A 4xx is temporary by definition; a 5xx with a ``5.7.x`` status or that speaks of
    relaying is a policy refusal — "relay access denied", "authentication required", our address is
    blocked —, a configuration of the mail server or of ours that the operator can fix: retried, so the
    alerts queued meanwhile arrive once it is."""
    if code < 500:
        return False
    return not (_POLICY_STATUS.match(reply) or "relay" in reply.lower())


def is_phone(value: str) -> bool:
    return bool(_PHONE.match(value))


def is_email(value: str) -> bool:
    return len(value) <= 254 and bool(_EMAIL.match(value))


def is_webhook_url(value: str) -> bool:
    """http(s) with a host, no credentials in the URL (they would be shown back and logged)."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return (parts.scheme in ("http", "https") and bool(parts.hostname) and parts.username is None
            and not any(ch.isspace() for ch in value) and len(value) <= 500)


def split_list(value: str | None) -> list[str]:
    """A comma-separated setting as a list, blanks dropped."""
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def mask_email(value: str) -> str:
    """``a***@example.com``: enough to recognise the mailbox, not enough to harvest it."""
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    """``+86*******8000``: the country code and the last four digits."""
    return value[:3] + "*" * max(len(value) - 7, 0) + value[-4:] if len(value) > 7 else "***"


def mask_url(value: str) -> str:
    """The URL without credentials, query string or fragment (where tokens tend to hide)."""
    parts = urlsplit(value)
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def mask_target(channel: str, target: str) -> str:
    if channel == "email":
        return mask_email(target)
    if channel == "sms":
        return mask_phone(target)
    return mask_url(target)
