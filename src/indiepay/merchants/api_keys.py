"""A merchant's own API keys: creating further (e.g. read-only) keys and rolling the calling key; and the
operator issuing a merchant a new key when it has none it can use.

Rolling issues a new key with the same mode and read-only flag and gives the old one an ``expires_at``
(default 24 hours, 0 = at once) so deployments can switch over. A merchant's keys are shown once, in the
answer that created them (never stored for a replay): a merchant that lost them, or whose key leaked, gets a
new one from the operator (:func:`issue`), which by default revokes the others of that mode at once. All
are audited (``api_key.created``, ``api_key.rolled``, ``api_key.issued``); the raw key appears only in the
response.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from indiepay.audit.service import actor_of, record
from indiepay.core.clock import Clock
from indiepay.core.errors import NotFound, PermissionDenied
from indiepay.merchants.auth import Principal, create_key
from indiepay.merchants.models import ApiKey, Merchant
from indiepay.merchants.schemas import ApiKeyCreate, ApiKeyIssue, ApiKeyOut


def to_out(key: ApiKey, raw: str | None = None) -> ApiKeyOut:
    return ApiKeyOut(id=key.id, mode="live" if key.livemode else "test", read_only=key.read_only,
                     prefix=key.prefix, last4=key.last4, created_at=key.created_at, expires_at=key.expires_at,
                     key=raw)


def list_keys(session: Session, principal: Principal) -> list[ApiKeyOut]:
    """The calling merchant's keys of the calling key's mode that are not revoked, newest first (an expired
    rolled key is listed with its ``expires_at`` until it is revoked)."""
    merchant_id = principal.require_merchant()
    rows = session.scalars(select(ApiKey).where(ApiKey.merchant_id == merchant_id,
                                                ApiKey.livemode == principal.livemode, ApiKey.revoked_at.is_(None))
                           .order_by(ApiKey.created_at.desc(), ApiKey.id.desc())).all()
    return [to_out(row) for row in rows]


def create(session: Session, clock: Clock, principal: Principal, body: ApiKeyCreate) -> ApiKeyOut:
    """Create a key for the calling merchant.

    Raises:
        NotFound (``merchant_key_required``): the caller is not a merchant.
        PermissionDenied (``mode_mismatch``): the key asked for is of the other mode.
    """
    merchant_id = principal.require_merchant()
    if (body.mode == "live") != principal.livemode:
        raise PermissionDenied(f"a {'live' if principal.livemode else 'test'} key can only create keys of its "
                               "own mode", code="mode_mismatch")
    row, raw = create_key(session, clock, merchant_id=merchant_id, role="merchant", livemode=principal.livemode,
                          read_only=body.read_only)
    record(session, clock, actor=actor_of(principal), action="api_key.created", target_type="api_key",
           target_id=row.id, merchant_id=merchant_id,
           details={"mode": body.mode, "read_only": body.read_only, "by_key": principal.key_id})
    return to_out(row, raw)


def roll(session: Session, clock: Clock, principal: Principal, expires_in_seconds: int) -> ApiKeyOut:
    """Replace the calling key: returns the new key (raw, once) with the old one's new expiry.

    Raises:
        NotFound: the caller is not a merchant key stored in the database.
    """
    merchant_id = principal.require_merchant()
    old = session.get(ApiKey, principal.key_id, with_for_update=True) if principal.key_id else None
    if old is None or old.merchant_id != merchant_id or old.revoked_at is not None:
        raise NotFound("no such API key", code="api_key_not_found")
    now = clock.now()
    ends = now + timedelta(seconds=expires_in_seconds)
    if old.expires_at is None or ends < old.expires_at:  # rolling never extends a key's life
        old.expires_at = ends
    row, raw = create_key(session, clock, merchant_id=merchant_id, role="merchant", livemode=old.livemode,
                          read_only=old.read_only)
    record(session, clock, actor=actor_of(principal), action="api_key.rolled", target_type="api_key",
           target_id=old.id, merchant_id=merchant_id,
           details={"new_key_id": row.id, "old_key_expires_at": old.expires_at.isoformat(),
                    "mode": "live" if old.livemode else "test"})
    out = to_out(row, raw)
    out.old_key = to_out(old)
    return out


def issue(session: Session, clock: Clock, principal: Principal, merchant_id: str, body: ApiKeyIssue) -> ApiKeyOut:
    """The operator issues ``merchant_id`` a new full key of ``body.mode`` (shown once); with
    ``revoke_existing`` every other key of that mode — read-only ones too — is revoked at once.

    Raises:
        PermissionDenied (``admin_required``): the caller is not the operator.
        NotFound (``merchant_not_found``): no such merchant.
    """
    if not principal.is_admin:
        raise PermissionDenied("only the operator issues keys to a merchant", code="admin_required")
    if session.get(Merchant, merchant_id, with_for_update=True) is None:
        raise NotFound(f"no merchant {merchant_id}", code="merchant_not_found")
    livemode = body.mode == "live"
    now = clock.now()
    revoked: list[str] = []
    if body.revoke_existing:
        revoked = list(session.scalars(
            update(ApiKey).where(ApiKey.merchant_id == merchant_id, ApiKey.livemode == livemode,
                                 ApiKey.revoked_at.is_(None))
            .values(revoked_at=now).returning(ApiKey.id).execution_options(synchronize_session=False)))
    row, raw = create_key(session, clock, merchant_id=merchant_id, role="merchant", livemode=livemode)
    record(session, clock, actor=actor_of(principal), action="api_key.issued", target_type="api_key",
           target_id=row.id, merchant_id=merchant_id,
           details={"mode": body.mode, "revoked_key_ids": sorted(revoked)})
    return to_out(row, raw)
