"""Idempotent execution of a mutating request (Stripe semantics).

The first request with a key claims it (committed at once, so a concurrent duplicate sees the claim),
runs, and stores its response — errors included — for at least 24 hours. A repeat with the same body gets
the stored response without running again; a repeat with a different body is refused with
``idempotency_key_reused``; a repeat while the first is still running gets ``idempotency_key_in_use``.
A server error (5xx, or an unexpected exception) is not stored, because the client is expected to retry:
the key is released — or, for an endpoint with a *resume* (below), marked interrupted, so that the retry
finishes what the failed run began (a payment whose channel call went unanswered is asked for again)
instead of tripping over it (``duplicate_out_trade_no``).

A process killed mid-request leaves its claim ``in_progress`` with nobody running it, and the client's retry
— what any client does after a dropped connection — would be told "in progress" for a day. A claim older
than :data:`CLAIM_LEASE` (far longer than any request runs) is therefore treated as interrupted: a repeat
takes it over and runs the endpoint's *resume* instead, which finishes the interrupted work from what it
left in the database (the payment or refund it already wrote, found by its natural key) rather than doing
it twice. An endpoint without a resume cannot tell what the interrupted run did, so the repeat is refused
with ``idempotency_key_interrupted`` and the key stays claimed.

A response may hold a secret that is shown once and kept only hashed (the API keys of a new merchant): the
endpoint then passes ``keep``, which says what of its response is stored — and therefore replayed — with
the secret taken out. The first caller gets the whole response; a repeat gets the kept one. A stored
response written before its endpoint had a ``keep`` is passed through it when replayed, and rewritten so.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from indiepay.context import ServiceContext
from indiepay.core.errors import Conflict, IndiePayError, InvalidRequest, Unprocessable
from indiepay.core.ids import new_id
from indiepay.idempotency.models import IdempotencyRecord

KEEP_FOR = timedelta(hours=24)
# a request's longest legitimate run is a few channel calls of at most ``channel_timeout_seconds`` (10 s)
CLAIM_LEASE = timedelta(minutes=5)
IN_PROGRESS, INTERRUPTED, DONE = "in_progress", "interrupted", "done"
MAX_KEY_LENGTH = 255


_RUNNING_CLAIM: ContextVar[str | None] = ContextVar("indiepay_idempotency_claim", default=None)


def running_claim() -> str | None:
    """The id of the key's claim whose run (or resume) is executing in this context, else None.

    A claim keeps its id while its run is interrupted and resumed, and a key used again after
    :data:`KEEP_FOR` gets a new one: so a number derived from it (a refund's ``out_refund_no`` asked for
    without one) is the same for a request and its retries, and new for a new request under an old key."""
    return _RUNNING_CLAIM.get()


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: dict[str, Any]


def request_hash(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def error_body(error: IndiePayError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "details": error.details}}


def run_idempotent(ctx: ServiceContext, *, scope: str, key: str | None, fingerprint: str,
                   run: Callable[[], StoredResponse],
                   resume: Callable[[], StoredResponse] | None = None,
                   keep: Callable[[StoredResponse], StoredResponse] | None = None) -> StoredResponse:
    """Run ``run`` at most once per (scope, key). Without a key, just run it. ``resume`` finishes a run
    that was interrupted (see the module docstring); it must be safe whatever the interrupted run did.
    ``keep`` turns a successful response into what is stored and replayed (secrets taken out); errors are
    stored as they are."""
    if key is None:
        return run()
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidRequest("Idempotency-Key must be 1-255 characters", code="invalid_idempotency_key")
    now = ctx.clock.now()
    claim_id = new_id("idem")
    try:
        with ctx.db.transaction() as session:
            session.execute(delete(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key,
                IdempotencyRecord.created_at < now - KEEP_FOR))
            session.add(IdempotencyRecord(id=claim_id, scope=scope, key=key, request_hash=fingerprint,
                                          status=IN_PROGRESS, created_at=now))
    except IntegrityError:
        with ctx.db.transaction() as session:
            record = session.scalars(select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).one()
            if record.request_hash != fingerprint:
                raise Unprocessable("this Idempotency-Key was used with a different request",
                                    code="idempotency_key_reused") from None
            if record.status == DONE and record.response_body is not None and record.response_status is not None:
                stored = StoredResponse(record.response_status, record.response_body)
                if keep is not None and stored.status < 400:
                    kept = keep(stored)
                    if kept.body != stored.body:  # stored before the endpoint took its secret out
                        record.response_body = kept.body
                    stored = kept
                return stored
            _take_over(session, record, now, resumable=resume is not None)
            claim_id = record.id
        assert resume is not None  # _take_over refuses otherwise
        run = resume
    running = _RUNNING_CLAIM.set(claim_id)
    try:
        response = run()
    except IndiePayError as exc:
        if exc.http_status >= 500:
            _let_go(ctx, scope, key, resumable=resume is not None)
            raise
        _store(ctx, scope, key, StoredResponse(exc.http_status, error_body(exc)))
        raise
    except BaseException:
        _let_go(ctx, scope, key, resumable=resume is not None)
        raise
    finally:
        _RUNNING_CLAIM.reset(running)
    _store(ctx, scope, key, keep(response) if keep is not None else response)
    return response


def _take_over(session: Session, record: IdempotencyRecord, now: datetime, *, resumable: bool) -> None:
    """Claim a key whose run failed (``interrupted``) or whose in-progress lease ran out, or refuse the
    repeat. Two repeats racing for one claim: the conditional update lets one of them take it."""
    claimed_at = record.created_at
    if record.status != INTERRUPTED and claimed_at > now - CLAIM_LEASE:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_key_in_use")
    if not resumable:
        raise Conflict("the request with this Idempotency-Key was interrupted and its outcome is unknown: look for "
                       "what it created before retrying with a new key", code="idempotency_key_interrupted",
                       details={"claimed_at": claimed_at.isoformat()})
    taken = session.execute(update(IdempotencyRecord).where(
        IdempotencyRecord.id == record.id, IdempotencyRecord.status == record.status,
        IdempotencyRecord.created_at == claimed_at).values(status=IN_PROGRESS, created_at=now)
        .execution_options(synchronize_session=False))
    if getattr(taken, "rowcount", 0) != 1:
        raise Conflict("a request with this Idempotency-Key is still in progress", code="idempotency_key_in_use")


def _store(ctx: ServiceContext, scope: str, key: str, response: StoredResponse) -> None:
    with ctx.db.transaction() as session:
        record = session.scalars(select(IdempotencyRecord).where(
            IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)).one()
        record.status = DONE
        record.response_status = response.status
        record.response_body = response.body


def _let_go(ctx: ServiceContext, scope: str, key: str, *, resumable: bool) -> None:
    """After a failed run: a resumable key is marked interrupted (its retry resumes), any other released."""
    if not resumable:
        _release(ctx, scope, key)
        return
    with ctx.db.transaction() as session:
        session.execute(update(IdempotencyRecord).where(IdempotencyRecord.scope == scope, IdempotencyRecord.key == key)
                        .values(status=INTERRUPTED).execution_options(synchronize_session=False))


def _release(ctx: ServiceContext, scope: str, key: str) -> None:
    with ctx.db.transaction() as session:
        session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope == scope,
                                                        IdempotencyRecord.key == key))
