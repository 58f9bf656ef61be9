"""The queries of housekeeping: which rows are past use (by kind), deleting them, and the job queue as the
operator sees it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import ColumnElement, Delete, Table, delete, exists, select, update
from sqlalchemy.orm import Session, aliased

from indiepay.db.jobs.models import Job
from indiepay.housekeeping import rules
from indiepay.idempotency.models import IdempotencyRecord
from indiepay.webhooks.models import WebhookDelivery

_Later = aliased(WebhookDelivery)


def _finished(status: str) -> Callable[[datetime], ColumnElement[bool]]:
    # ``run_at`` first: the claim index (status, run_at) finds them; a job's last run is due before it ends
    return lambda cutoff: (Job.status == status) & (Job.run_at < cutoff) & (Job.finished_at < cutoff)


def _still_finished(status: str) -> Callable[[datetime], ColumnElement[bool]]:
    # the same facts, in a form no index serves: next to ``id IN (…)`` SQLite would otherwise delete through
    # the claim index's range — every finished job of the period read again for each batch of 2,000
    return lambda cutoff: (Job.status.concat("") == status) & (Job.finished_at < cutoff)


def _delivery_log_past(cutoff: datetime) -> ColumnElement[bool]:
    # an event's log goes whole: its attempt numbers are counted from it (webhooks.service)
    return (WebhookDelivery.created_at < cutoff) & ~exists().where(
        _Later.event_id == WebhookDelivery.event_id, _Later.created_at >= cutoff)


_Condition = Callable[[datetime], ColumnElement[bool]]
_PAST_USE: dict[str, tuple[Table, ColumnElement[str], ColumnElement[datetime], _Condition, _Condition]] = {
    # kind: (table, id, the date its rows are found by, "past use" to find them, the same to re-check by id)
    rules.IDEMPOTENCY: (IdempotencyRecord.__table__, IdempotencyRecord.id, IdempotencyRecord.created_at,  # type: ignore[dict-item]
                        lambda cutoff: IdempotencyRecord.created_at < cutoff,
                        lambda cutoff: IdempotencyRecord.created_at < cutoff),
    rules.DONE_JOBS: (Job.__table__, Job.id, Job.run_at, _finished("done"), _still_finished("done")),  # type: ignore[dict-item]
    rules.DEAD_JOBS: (Job.__table__, Job.id, Job.run_at, _finished("dead"), _still_finished("dead")),  # type: ignore[dict-item]
    rules.WEBHOOK_DELIVERIES: (WebhookDelivery.__table__, WebhookDelivery.id,  # type: ignore[dict-item]
                               WebhookDelivery.created_at, _delivery_log_past, _delivery_log_past),
}


def prune_batch(session: Session, kind: str, cutoff: datetime, limit: int) -> int:
    """Delete up to ``limit`` of the oldest rows of ``kind`` past ``cutoff``; returns how many went.

    The ids are chosen first (by the index on the row's date), then deleted by id *and* the same condition, so
    that a row changed in between — a dead job requeued, a key claimed again, an event delivered once more —
    stays."""
    _table, id_column, dated, past, _still_past = _PAST_USE[kind]
    ids = list(session.scalars(select(id_column).where(past(cutoff)).order_by(dated).limit(limit)))
    if not ids:
        return 0
    result = session.execute(delete_by_ids(kind, ids, cutoff).execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def delete_by_ids(kind: str, ids: list[str], cutoff: datetime) -> Delete:
    """Delete those of ``ids`` still past use: by their primary key (see :func:`_still_finished`)."""
    table, _id, _dated, _past, still_past = _PAST_USE[kind]
    return delete(table).where(table.c.id.in_(ids), still_past(cutoff))


def list_jobs(session: Session, *, status: str, kind: str | None, limit: int, starting_after: str | None) -> list[Job]:
    """Jobs of one status, the latest due first (by ``run_at``, then id: the claim index's order, so a queue of
    millions of finished jobs is not sorted to show a page), optionally of one kind."""
    query = select(Job).where(Job.status == status).order_by(Job.run_at.desc(), Job.id.desc()).limit(limit)
    if kind is not None:
        query = query.where(Job.kind == kind)
    if starting_after is not None:
        after = session.get(Job, starting_after)
        if after is not None:
            query = query.where((Job.run_at < after.run_at) | ((Job.run_at == after.run_at) & (Job.id < after.id)))
    return list(session.scalars(query))


def requeue_dead(session: Session, job_id: str, now: datetime) -> bool:
    """Queue a dead job again, due now, with its attempts counted afresh (its last error kept for whoever looks);
    False when it is not dead (any more)."""
    result = session.execute(
        update(Job).where(Job.id == job_id, Job.status == "dead")
        .values(status="queued", attempts=0, run_at=now, locked_by=None, locked_until=None, finished_at=None)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0) == 1
