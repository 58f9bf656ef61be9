"""Append, list and verify audit events.

:func:`record` appends in the caller's transaction under the ``audit_chain_head`` row lock (``FOR UPDATE``;
SQLite serialises writers already), so the event commits or rolls back with the action it describes and
sequences are gap-free. Failed authentication has no transaction of its own to join:
:func:`record_separately` writes it in a small one and never raises.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, insert, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.audit import chain, modes
from indiepay.audit.context import current_origin
from indiepay.audit.models import AuditChainHead, AuditEvent
from indiepay.core.clock import Clock
from indiepay.core.ids import new_id
from indiepay.db.engine import Database
from indiepay.merchants.auth import Principal
from indiepay.merchants.auth_limits import FailureLimits

log = logging.getLogger(__name__)

HEAD_ID = 1
BATCH = 1000


def actor_of(principal: Principal) -> str:
    """``admin`` or ``merchant:<id>`` (the key's id is kept in the details where it matters)."""
    return "admin" if principal.is_admin else f"merchant:{principal.merchant_id}"


def record(session: Session, clock: Clock, *, actor: str, action: str, target_type: str | None = None,
           target_id: str | None = None, merchant_id: str | None = None, result: str = "ok",
           details: dict[str, Any] | None = None, origin: str | None = None,
           livemode: bool | None = None) -> AuditEvent:
    """Append one event in ``session``'s transaction (flushed, not committed).

    Args:
        actor: ``admin``, ``merchant:<id>``, ``key:<prefix>`` or ``cli``.
        action: dotted name such as ``refund.created``.
        merchant_id: the merchant the event concerns; that merchant sees it in ``GET /v1/audit_events``.
        livemode: the event's mode, when it has no target that says it; by default the target's (see
            :mod:`indiepay.audit.modes`: the merchant's key of the other mode does not list it).
        origin: the client IP; defaults to the current request's (see :mod:`indiepay.audit.context`).
        details: JSON-safe facts; never secrets.
    """
    safe_details: dict[str, Any] = json.loads(json.dumps(details or {}, default=str))
    if livemode is None:
        livemode = modes.mode_of_target(session, target_type, target_id)
    sequence, prev_hash = _lock_head(session)
    sequence += 1
    fields: dict[str, Any] = {
        "sequence": sequence, "occurred_at": clock.now(), "actor": actor, "merchant_id": merchant_id,
        "action": action, "target_type": target_type, "target_id": target_id,
        "origin": origin if origin is not None else current_origin.get(), "result": result,
        "details": safe_details, "livemode": livemode,
    }
    digest = chain.event_hash(prev_hash, **fields)
    event = AuditEvent(id=new_id("aud"), prev_hash=prev_hash, hash=digest, **fields)
    session.add(event)
    session.execute(update(AuditChainHead).where(AuditChainHead.id == HEAD_ID)
                    .values(sequence=sequence, hash=digest))
    session.flush()
    return event


def record_separately(db: Database, clock: Clock, **kwargs: Any) -> None:
    """:func:`record` in its own transaction, for events outside any unit of work (failed authentication).
    An audit failure is logged, never raised: it must not turn the caller's 401 into a 500."""
    try:
        with db.transaction() as session:
            record(session, clock, **kwargs)
    except Exception:
        log.exception("could not record audit event %s", kwargs.get("action"))


AUTH_FAILED = "auth.failed"


def recent_auth_failures_over(session: Session, clock: Clock, limits: FailureLimits, *, origin: str | None,
                              label: str | None) -> bool:
    """Whether ``origin`` or ``label`` has as many recorded ``auth.failed`` events within the window as the
    limits allow — counted in the database, so every server process sees the failures of all of them (the
    partial indexes of migration 0026 keep it a short range scan whatever the log's length)."""
    since = clock.now() - timedelta(seconds=limits.window)
    for column, value, limit in (("origin", origin, limits.per_ip), ("actor", label, limits.per_key)):
        if value is None:
            continue
        # the action as a literal, so that both databases use the partial index on it
        count = session.scalar(select(func.count()).select_from(AuditEvent).where(
            text(f"audit_events.action = '{AUTH_FAILED}'"), getattr(AuditEvent, column) == value,
            AuditEvent.occurred_at > since))
        if int(count or 0) >= limit:
            return True
    return False


def record_auth_failure(db: Database, clock: Clock, limits: FailureLimits, *, origin: str | None,
                        label: str | None, actor: str, details: dict[str, Any]) -> bool:
    """Record a failed authentication unless its address or its key label is already over the limits;
    returns whether it was over (then nothing is recorded: a guessing run is on record already, and the
    window slides by the failures that were). Never raises: a database that cannot answer leaves the
    caller's 401 a 401, not a 500."""
    try:
        with db.transaction() as session:
            if recent_auth_failures_over(session, clock, limits, origin=origin, label=label):
                return True
            record(session, clock, actor=actor, action=AUTH_FAILED, origin=origin, result="refused",
                   details=details)
    except Exception:
        log.exception("could not record a failed authentication")
    return False


def auth_throttled(db: Database, clock: Clock, limits: FailureLimits, *, origin: str | None,
                   label: str | None) -> bool:
    """:func:`recent_auth_failures_over` in a read of its own (False when the database cannot answer)."""
    try:
        with db.read() as session:
            return recent_auth_failures_over(session, clock, limits, origin=origin, label=label)
    except Exception:
        log.exception("could not count failed authentications")
        return False


def _lock_head(session: Session) -> tuple[int, str]:
    query = select(AuditChainHead.sequence, AuditChainHead.hash).where(AuditChainHead.id == HEAD_ID)
    row = session.execute(query.with_for_update()).first()
    if row is None:  # a database not built by the migrations: create the genesis row
        try:
            with session.begin_nested():
                session.execute(insert(AuditChainHead).values(id=HEAD_ID, sequence=0, hash=chain.GENESIS_HASH))
        except IntegrityError:
            pass
        row = session.execute(query.with_for_update()).one()
    return int(row.sequence), str(row.hash)


def list_events(session: Session, principal: Principal, *, limit: int = 100, after_sequence: int | None = None,
                action: str | None = None, merchant_id: str | None = None,
                newest_first: bool = False) -> Sequence[AuditEvent]:
    """Events in sequence order: all of them for the admin, a merchant's own of its key's mode (and those of
    neither mode) for a merchant key.

    Args:
        merchant_id: only the events concerning this merchant (the operator's filter; a merchant key sees
            its own events only, whatever it asks for).
        newest_first: the latest ``limit`` events, highest sequence first (the dashboard's log), instead of
            the first ``limit`` after ``after_sequence`` (the API's forward paging).
    """
    order = AuditEvent.sequence.desc() if newest_first else AuditEvent.sequence
    query = select(AuditEvent).order_by(order).limit(limit)
    if not principal.is_admin:
        query = query.where(AuditEvent.merchant_id == principal.require_merchant(),
                            modes.listed_to(principal.livemode))
    if merchant_id is not None:
        query = query.where(AuditEvent.merchant_id == merchant_id)
    if after_sequence is not None:
        query = query.where(AuditEvent.sequence > after_sequence)
    if action is not None:
        query = query.where(AuditEvent.action == action)
    return session.scalars(query).all()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    first_broken_sequence: int | None
    reason: str | None
    events_checked: int
    head_sequence: int


def verify(session: Session) -> VerifyResult:
    """Recompute the whole chain; the first event whose sequence, link or hash is wrong breaks it.

    The head is read first: events appended while verifying are checked like the others."""
    head = session.get(AuditChainHead, HEAD_ID)
    head_sequence, head_hash = (head.sequence, head.hash) if head is not None else (0, chain.GENESIS_HASH)
    expected, prev_hash, checked, last = 1, chain.GENESIS_HASH, 0, 0
    head_seen = head_sequence == 0
    while True:
        batch = session.scalars(select(AuditEvent).where(AuditEvent.sequence > last)
                                .order_by(AuditEvent.sequence).limit(BATCH)).all()
        if not batch:
            break
        for event in batch:
            broken = _check(event, expected, prev_hash)
            if broken is None and event.sequence == head_sequence:
                head_seen = True
                if event.hash != head_hash:
                    broken = "the chain head does not match this event's hash"
            if broken is not None:
                return VerifyResult(False, event.sequence, broken, checked, head_sequence)
            checked += 1
            expected, prev_hash = event.sequence + 1, event.hash
        last = batch[-1].sequence
    if not head_seen:
        return VerifyResult(False, expected, f"events end before the chain head (sequence {head_sequence})",
                            checked, head_sequence)
    return VerifyResult(True, None, None, checked, head_sequence)


def _check(event: AuditEvent, expected: int, prev_hash: str) -> str | None:
    if event.sequence != expected:
        return f"expected sequence {expected}, found {event.sequence} (an event is missing)"
    if event.prev_hash != prev_hash:
        return "prev_hash does not link to the previous event"
    recomputed = chain.event_hash(prev_hash, sequence=event.sequence, occurred_at=event.occurred_at,
                                  actor=event.actor, merchant_id=event.merchant_id, action=event.action,
                                  target_type=event.target_type, target_id=event.target_id, origin=event.origin,
                                  result=event.result, details=event.details, livemode=event.livemode)
    if recomputed != event.hash:
        return "the event's content does not match its hash (changed row)"
    return None

