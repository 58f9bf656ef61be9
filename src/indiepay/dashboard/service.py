"""Starting, resolving and ending dashboard sessions (see the package docstring)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from indiepay.audit.service import actor_of
from indiepay.core.clock import Clock
from indiepay.core.errors import AuthenticationFailed
from indiepay.core.ids import new_id
from indiepay.dashboard.models import DashboardSession
from indiepay.merchants.auth import ADMIN, Principal, hash_key, lookup_digest

LIFETIME = timedelta(hours=8)
COOKIE = "indiepay_dashboard"


@dataclass(frozen=True)
class Signed:
    """Who a session belongs to now, and what its forms must carry."""

    principal: Principal
    session_id: str
    csrf_token: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def start(session: Session, clock: Clock, principal: Principal, raw_key: str, *, origin: str | None) -> str:
    """Open a session for a caller already authenticated with ``raw_key``; returns the cookie's token
    (shown to the browser once, stored only as its hash)."""
    token = secrets.token_urlsafe(32)
    now = clock.now()
    session.add(DashboardSession(
        id=new_id("dsess"), token_hash=_digest(token), key_hash=hash_key(raw_key), actor=actor_of(principal),
        csrf_token=secrets.token_urlsafe(24), origin=origin, created_at=now, expires_at=now + LIFETIME,
        ended_at=None))
    session.flush()
    return token


def resolve(session: Session, token: str | None, *, admin_key: str | None, now: datetime) -> Signed:
    """The caller behind a cookie's token, resolved from the key it signed in with.

    Raises:
        AuthenticationFailed: no token, an unknown, ended or expired session, or a key that no longer works.
    """
    if not token:
        raise AuthenticationFailed("sign in to the dashboard", code="dashboard_signin_required")
    row = session.scalars(select(DashboardSession).where(DashboardSession.token_hash == _digest(token))).first()
    if row is None or row.ended_at is not None or row.expires_at <= now:
        raise AuthenticationFailed("the dashboard session has ended: sign in again", code="dashboard_session_ended")
    if admin_key is not None and hmac.compare_digest(row.key_hash, hash_key(admin_key)):
        principal = ADMIN
    else:
        principal = lookup_digest(session, row.key_hash)
    return Signed(principal=principal, session_id=row.id, csrf_token=row.csrf_token)


def end(session: Session, clock: Clock, token: str | None) -> None:
    """Sign out: the session's token stops working (nothing happens for an unknown one)."""
    if not token:
        return
    row = session.scalars(select(DashboardSession).where(DashboardSession.token_hash == _digest(token))).first()
    if row is not None and row.ended_at is None:
        row.ended_at = clock.now()


def csrf_ok(signed: Signed, presented: str | None) -> bool:
    """Whether a form carried the session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(signed.csrf_token.encode(), (presented or "").encode())
