"""Rotating a channel account's credentials without rejecting a callback that is already on its way.

A channel does not re-encrypt or re-sign the callbacks it has queued when the merchant changes its keys:
WeChat Pay resends the body it built (resource encrypted under the APIv3 key of that moment) for ~24 h,
and Alipay the form it signed for ~25 h. So a rotation keeps the replaced sealed fields in
``previous_credentials`` for a grace window (``Settings.credential_grace_hours``, 72 h by default), and the
account's adapter accepts callbacks verified under either set while it lasts; every request still goes
out with the current set. The window closes early, and the old set is dropped, as soon as a 0.01 test
payment made with the new credentials succeeds (:func:`drop_previous_after_verification`, called by the
verification job) — that proves the channel now talks to us with the new keys.

Why the verification state is reset: the new set has never carried a payment, so ``verified_at`` is
cleared and only a test payment created *after* the rotation may set it again (the account's
``updated_at`` is when its credentials last changed; an older test payment proves nothing about them).

Several rotations before a verification keep the *verified* set as the previous one: a set that never
carried a payment is not what in-flight callbacks were built with.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import null, select, update
from sqlalchemy.orm import Session

from indiepay.accounts.models import ChannelAccount
from indiepay.accounts.schemas import ChannelAccountOut, CredentialsRotate
from indiepay.accounts.service import credential_owner, get_account, prepare_credentials, to_out
from indiepay.audit import service as audit
from indiepay.channels.registry import channel_spec
from indiepay.context import ServiceContext
from indiepay.core.clock import Clock, as_utc
from indiepay.core.errors import InvalidRequest, PermissionDenied
from indiepay.merchants.auth import Principal
from indiepay.vault.envelope import fingerprint

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"


def rotate_credentials(session: Session, ctx: ServiceContext, principal: Principal, account_id: str,
                       body: CredentialsRotate) -> ChannelAccountOut:
    """Replace an account's credentials, keeping the old ones for callbacks during the grace window.

    The merchant rotates its own accounts, the operator the platform's. Sending the credentials the
    account already holds changes nothing (a repeated PUT is harmless).

    Raises:
        NotFound: ``account_not_found`` (not the caller's, or not in the key's environment).
        PermissionDenied: ``owner_required`` — only the owner of the credentials may replace them.
        InvalidRequest: ``invalid_credentials`` / ``invalid_certificate`` as for account creation;
            ``credentials_identity_changed`` when a field naming the channel account differs.
    """
    account = get_account(session, principal, account_id)
    owner_ok = principal.is_admin if account.merchant_id is None else principal.merchant_id == account.merchant_id
    if not owner_ok:
        raise PermissionDenied("only the owner of an account's credentials may replace them", code="owner_required")
    session.refresh(account, with_for_update=True)  # two rotations of one account serialise here
    prepared = prepare_credentials(ctx, account.channel, body.credentials, owner=credential_owner(account),
                                   account_id=account.id)
    if _fingerprints(prepared.sealed) == _fingerprints(account.credentials):
        return to_out(account)
    _check_identity(account, prepared.plain)
    now = ctx.clock.now()
    keep_previous = (account.verified_at is None and account.previous_credentials
                     and account.previous_credentials_until is not None
                     and as_utc(account.previous_credentials_until) > now)
    previous = account.previous_credentials if keep_previous else account.credentials
    until = now + timedelta(hours=ctx.settings.credential_grace_hours)
    changed = sorted(name for name in set(prepared.sealed) | set(account.credentials)
                     if _fingerprints(prepared.sealed).get(name) != _fingerprints(account.credentials).get(name))
    account.previous_credentials = previous
    account.previous_credentials_until = until
    account.credentials = prepared.sealed
    account.credentials_expire_at = prepared.expire_at
    account.verified_at = None
    account.updated_at = now
    session.flush()
    ctx.health.forget(account.id)  # failures under the old keys say nothing about the new ones
    audit.record(session, ctx.clock, actor=audit.actor_of(principal), action="credentials.rotated",
                 target_type="channel_account", target_id=account.id, merchant_id=account.merchant_id,
                 details={"channel": account.channel, "fields": sorted(prepared.sealed), "changed": changed,
                          "fingerprints": _fingerprints(prepared.sealed),
                          "previous_fingerprints": _fingerprints(previous or {}),
                          "previous_until": until.isoformat(),
                          "credentials_expire_at": prepared.expire_at.isoformat() if prepared.expire_at else None})
    return to_out(account)


def _fingerprints(sealed: dict[str, Any]) -> dict[str, str]:
    return {name: str(value["fingerprint"]) for name, value in sorted(sealed.items())}


def _check_identity(account: ChannelAccount, new: dict[str, str]) -> None:
    """The new set must name the same channel account (compared by fingerprint: the current values are
    sealed, and their fingerprints are what the row keeps in the clear)."""
    current = _fingerprints(account.credentials)
    for name in sorted(channel_spec(account.channel).identity_fields):
        if current.get(name) != fingerprint(new.get(name, "")):
            raise InvalidRequest(f"{name} names another {account.channel} account: connect it as a new account",
                                 code="credentials_identity_changed", details={"field": name})


def drop_previous_after_verification(session: Session, clock: Clock, account_id: str, payment_id: str) -> bool:
    """The new credentials carried a test payment: forget the replaced set. True when one was dropped."""
    return _drop(session, clock, account_id, reason="verified", payment_id=payment_id)


def drop_expired_previous(session: Session, clock: Clock) -> int:
    """Forget every replaced credential set whose grace window has ended (the daily key check calls this)."""
    now = clock.now()
    expired = session.scalars(select(ChannelAccount.id).where(ChannelAccount.previous_credentials_until <= now)
                              .order_by(ChannelAccount.id)).all()
    return sum(_drop(session, clock, account_id, reason="window_ended") for account_id in expired)


def _drop(session: Session, clock: Clock, account_id: str, *, reason: str, payment_id: str | None = None) -> bool:
    account = session.get(ChannelAccount, account_id, with_for_update=True)
    if account is None or account.previous_credentials_until is None:
        return False
    fingerprints = _fingerprints(account.previous_credentials or {})
    result = session.execute(update(ChannelAccount).where(ChannelAccount.id == account_id,
                                                          ChannelAccount.previous_credentials_until.is_not(None))
                             .values(previous_credentials=null(), previous_credentials_until=null())
                             .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 0) != 1:
        return False
    session.expire(account)
    details: dict[str, Any] = {"reason": reason, "previous_fingerprints": fingerprints}
    if payment_id is not None:
        details["test_payment_id"] = payment_id
    audit.record(session, clock, actor=SYSTEM_ACTOR, action="credentials.previous_dropped",
                 target_type="channel_account", target_id=account_id, merchant_id=account.merchant_id,
                 details=details)
    log.info("previous credentials of %s dropped (%s)", account_id, reason)
    return True


def credentials_changed_after(account_updated_at: datetime, moment: datetime) -> bool:
    """Whether the account's credentials changed after ``moment`` (a test payment older than them proves
    nothing about them)."""
    return as_utc(account_updated_at) > as_utc(moment)
