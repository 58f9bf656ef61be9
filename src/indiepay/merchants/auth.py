"""API keys: generation, hashing at rest, and turning a bearer key into a :class:`Principal`.

Keys are shown once and stored as SHA-256 hashes (the keys are 190+ random bits, so a fast hash is the
right tool; a slow password hash would only add latency to every request). ``sk_test_…`` keys reach only
sandbox accounts and test data; ``sk_live_…`` keys only production accounts and live data.

A key may be read-only (GET only, enforced in the HTTP layer from :attr:`Principal.read_only`) and may have
an ``expires_at`` (a rolled key's grace period): an expired key is refused, cached or not.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.orm import Session

from indiepay.core.clock import Clock
from indiepay.core.errors import AuthenticationFailed, InvalidRequest, NotFound, PermissionDenied
from indiepay.core.ids import new_id
from indiepay.merchants.auth_limits import AuthFailureLimiter
from indiepay.merchants.models import ApiKey


@dataclass(frozen=True)
class Principal:
    """Who is calling: the operator (admin) or one merchant in test or live mode."""

    role: str  # admin | merchant
    merchant_id: str | None
    livemode: bool
    key_id: str | None = None  # the api_keys row (None for the configured admin key)
    read_only: bool = False

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def require_merchant(self) -> str:
        """The merchant id, or a 404-shaped refusal for callers that are not a merchant."""
        if self.merchant_id is None:
            raise NotFound("this endpoint is for merchant keys", code="merchant_key_required")
        return self.merchant_id

    def merchant_named(self, merchant_id: str | None) -> str:
        """The merchant a call concerns: the one the admin names (``?merchant_id=``), a merchant key's own
        (naming another is the 404 of a merchant that does not exist).

        Raises:
            InvalidRequest (``merchant_id_required``), NotFound (``merchant_not_found``).
        """
        if self.is_admin:
            if not merchant_id:
                raise InvalidRequest("the admin key must name the merchant: ?merchant_id=",
                                     code="merchant_id_required")
            return merchant_id
        own = self.require_merchant()
        if merchant_id is not None and merchant_id != own:
            raise NotFound("no such merchant", code="merchant_not_found")
        return own

    def can_see_merchant(self, merchant_id: str) -> bool:
        return self.is_admin or self.merchant_id == merchant_id

    def require_livemode(self, what: str) -> None:
        """Refuse a test key the change of a setting that is one per merchant, not one per mode, and so
        governs the live side too (how the merchant collects, where its alerts go): a test key is meant to
        be safe to hand to a developer, so it may read such a setting but only the live key or the operator
        may change it. ``what`` names the setting in the message.

        Raises:
            PermissionDenied (``livemode_required``): a test key.
        """
        if not self.livemode:
            raise PermissionDenied(f"{what} is one setting for test and live alike: change it with a live key",
                                   code="livemode_required")


def hash_key(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def generate_key(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(32)}"


def issue_key(session: Session, clock: Clock, *, merchant_id: str | None, role: str, livemode: bool,
              read_only: bool = False) -> str:
    """Create and store (hashed) a new key; returns the raw key, which is never stored."""
    return create_key(session, clock, merchant_id=merchant_id, role=role, livemode=livemode,
                      read_only=read_only)[1]


def create_key(session: Session, clock: Clock, *, merchant_id: str | None, role: str, livemode: bool,
               read_only: bool = False) -> tuple[ApiKey, str]:
    """:func:`issue_key`, also returning the stored row."""
    prefix = "sk_admin_" if role == "admin" else ("sk_live_" if livemode else "sk_test_")
    raw = generate_key(prefix)
    row = ApiKey(id=new_id("key"), merchant_id=merchant_id, role=role, livemode=livemode,
                 key_hash=hash_key(raw), prefix=prefix, last4=raw[-4:], created_at=clock.now(),
                 revoked_at=None, expires_at=None, read_only=read_only)
    session.add(row)
    session.flush()
    return row, raw


def key_label(raw: str | None) -> str:
    """What the audit log and the failure limiter call a presented key: its first 12 characters only."""
    return f"key:{raw[:12]}" if raw else "anonymous"


ADMIN = Principal(role="admin", merchant_id=None, livemode=True)


def authenticate(session: Session | Connection, raw: str | None, *, admin_key: str | None) -> Principal:
    """Resolve a bearer key. Raises AuthenticationFailed for a missing, unknown or revoked key."""
    if _is_admin_key(raw, admin_key):
        return ADMIN
    return _lookup(session, hash_key(raw or ""))[0]


def lookup_digest(session: Session | Connection, digest: str) -> Principal:
    """The caller behind a stored key digest (a dashboard session keeps the digest, never the key).
    Raises AuthenticationFailed for an unknown, revoked or expired key."""
    return _lookup(session, digest)[0]


def _is_admin_key(raw: str | None, admin_key: str | None) -> bool:
    if not raw:
        raise AuthenticationFailed("missing API key: send 'Authorization: Bearer <key>'", code="missing_api_key")
    return admin_key is not None and hmac.compare_digest(raw.encode(), admin_key.encode())


def _lookup(session: Session | Connection, digest: str) -> tuple[Principal, datetime | None]:
    row = session.execute(_KEY_LOOKUP, {"key_hash": digest}).first()
    if row is None or row.revoked_at is not None:
        raise AuthenticationFailed("invalid API key", code="invalid_api_key")
    if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
        raise AuthenticationFailed("this API key has expired (it was rolled)", code="api_key_expired")
    if row.role == "admin":
        return ADMIN, row.expires_at
    return Principal(role="merchant", merchant_id=row.merchant_id, livemode=row.livemode, key_id=row.id,
                     read_only=bool(row.read_only)), row.expires_at


# every request runs this: plain columns (no ORM objects), statement built once
_KEY_LOOKUP = (select(ApiKey.id, ApiKey.role, ApiKey.merchant_id, ApiKey.livemode, ApiKey.revoked_at,
                      ApiKey.expires_at, ApiKey.read_only)
               .where(ApiKey.key_hash == bindparam("key_hash")))


class PrincipalCache:
    """Recently resolved keys, so that a merchant polling or paying at high rate costs one hash and a dict
    lookup instead of a database read per request.

    Entries live ``ttl`` seconds (monotonic clock): a revoked key stops working in every process within
    that time. Only successful lookups are cached; unknown keys always go to the database. The cache is
    bounded and simply starts over when full. An entry never outlives its key's ``expires_at``.

    ``failures`` is the process's failed-authentication limiter, kept here because the cache is the one
    piece of per-process authentication state the platform already carries.
    """

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000,
                 failures: AuthFailureLimiter | None = None) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.failures = failures if failures is not None else AuthFailureLimiter()
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[1] < time.monotonic():
            return None
        return entry[0]

    def put(self, key_hash: str, principal: Principal, expires_at: datetime | None = None) -> None:
        now = time.monotonic()
        deadline = now + self.ttl
        if expires_at is not None:
            deadline = min(deadline, now + (expires_at - datetime.now(UTC)).total_seconds())
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[key_hash] = (principal, deadline)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


def authenticate_cached(cache: PrincipalCache, connect: Callable[[], AbstractContextManager[Connection]],
                        raw: str | None, *, admin_key: str | None) -> Principal:
    """:func:`authenticate` through ``cache``; ``connect`` opens a read connection only on a miss."""
    if _is_admin_key(raw, admin_key):
        return ADMIN
    digest = hash_key(raw or "")
    cached = cache.get(digest)
    if cached is not None:
        return cached
    with connect() as connection:
        principal, expires_at = _lookup(connection, digest)
    cache.put(digest, principal, expires_at)
    return principal


def ensure_admin_key(session: Session, clock: Clock, configured: str | None) -> str | None:
    """When no admin key is configured and none was ever generated, generate one and return it (to be
    printed once). Returns None when a key is configured or already exists."""
    if configured:
        return None
    exists = session.scalars(select(ApiKey.id).where(ApiKey.role == "admin", ApiKey.revoked_at.is_(None))).first()
    if exists is not None:
        return None
    return issue_key(session, clock, merchant_id=None, role="admin", livemode=True)
