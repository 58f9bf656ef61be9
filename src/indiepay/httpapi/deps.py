"""FastAPI dependencies: the service context, the authenticated principal, idempotent responses."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from indiepay.audit.context import current_origin
from indiepay.audit.service import auth_throttled, record_auth_failure
from indiepay.context import ServiceContext
from indiepay.core.errors import AuthenticationFailed, PermissionDenied
from indiepay.idempotency.service import StoredResponse, request_hash, run_idempotent
from indiepay.merchants.auth import Principal, authenticate_cached, key_label

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_ctx(request: Request) -> ServiceContext:
    """Async on purpose: a sync dependency costs a thread-pool hop per request for no I/O."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


Ctx = Annotated[ServiceContext, Depends(get_ctx)]


async def get_principal(ctx: Ctx, request: Request,
                        authorization: Annotated[str | None, Header()] = None) -> Principal:
    """Authenticate the bearer key; the one place that also enforces read-only keys and limits failures.

    Async on purpose: a cached key costs a dict lookup, and a miss one indexed read (sub-millisecond),
    both cheaper than the thread-pool hop a sync dependency costs on every request. Only a failure and the
    admin key pay for a thread: the database's count of recent failures across all processes is read (and
    a failure written to the audit log) in a small transaction of its own, never raising.

    Raises:
        TooManyAuthFailures (429): this IP or this key prefix failed too often recently and the key is
            not a merchant's (see :mod:`indiepay.merchants.auth_limits`).
        AuthenticationFailed (401), PermissionDenied (403 ``read_only_key``) for a mutating request.
    """
    raw = None
    if authorization:
        scheme, _, value = authorization.partition(" ")
        raw = value.strip() if scheme.lower() == "bearer" else None
    ip = request.client.host if request.client is not None else None
    current_origin.set(ip)
    label = key_label(raw) if raw else None
    limiter = ctx.principals.failures
    # this IP, or this key prefix, failed too often: only merchants' own keys still pass
    throttled = limiter.throttled(ip) or limiter.key_throttled(label)
    try:
        principal = authenticate_cached(ctx.principals, ctx.db.read_connection, raw,
                                        admin_key=ctx.settings.admin_key)
    except AuthenticationFailed as exc:
        limiter.failed(ip, label)
        if throttled:  # refused, and not audited one by one: a guessing run is already on record
            raise limiter.refusal() from None
        # recorded unless the other processes' failures already put this address or key over the limit
        if await run_in_threadpool(
                record_auth_failure, ctx.db, ctx.clock, limiter.limits, origin=ip, label=label,
                actor=key_label(raw), details={"code": exc.code, "method": request.method,
                                               "path": request.url.path}):
            raise limiter.refusal() from None
        raise
    if principal.is_admin and (throttled or await run_in_threadpool(
            auth_throttled, ctx.db, ctx.clock, limiter.limits, origin=ip, label=label)):
        raise limiter.refusal()  # the same answer as a wrong key: a throttled IP learns nothing
    if principal.read_only and request.method not in READ_METHODS:
        raise PermissionDenied("this API key is read-only", code="read_only_key")
    return principal


Caller = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: Caller) -> Principal:
    if not principal.is_admin:
        raise PermissionDenied("this endpoint needs the admin key", code="admin_required")
    return principal


Admin = Annotated[Principal, Depends(require_admin)]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
# a list's creation window, [created_gte, created_lt) (see indiepay.db.pagination.created_window)
CreatedGte = Annotated[datetime | None, Query(description="created at or after; ISO 8601 with a time zone")]
CreatedLt = Annotated[datetime | None, Query(description="created before; ISO 8601 with a time zone")]


def idempotency_scope(principal: Principal) -> str:
    """Keys are per merchant (or the operator) and per mode."""
    return f"{principal.merchant_id or 'admin'}:{'live' if principal.livemode else 'test'}"


def idempotent_json(ctx: ServiceContext, principal: Principal, request: Request, key: str | None,
                    body: Any, run: Callable[[], tuple[int, Any]],
                    resume: Callable[[], tuple[int, Any]] | None = None,
                    keep: Callable[[Any], Any] | None = None) -> JSONResponse:
    """Run a mutating endpoint under its Idempotency-Key and render the (possibly replayed) response.

    Without a key there is nothing to store or compare: the endpoint just runs. ``resume`` finishes the
    work of an earlier run with the same key that a crash interrupted (see :mod:`indiepay.idempotency`).
    ``keep`` maps a successful JSON answer to what is stored and replayed, for answers that show a secret
    once (the secret is taken out: it is never stored in the clear)."""
    if key is None:
        status, payload = run()
        return JSONResponse(status_code=status, content=payload)

    def stored(endpoint: Callable[[], tuple[int, Any]]) -> Callable[[], StoredResponse]:
        def execute() -> StoredResponse:
            status, payload = endpoint()
            return StoredResponse(status, json.loads(json.dumps(payload, default=str)))
        return execute

    def kept(response: StoredResponse) -> StoredResponse:
        assert keep is not None
        return StoredResponse(response.status, keep(response.body))

    answer = run_idempotent(ctx, scope=idempotency_scope(principal), key=key,
                            fingerprint=request_hash(request.method, request.url.path, body), run=stored(run),
                            resume=stored(resume) if resume is not None else None,
                            keep=kept if keep is not None else None)
    return JSONResponse(status_code=answer.status, content=answer.body)
