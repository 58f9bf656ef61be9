"""API shapes of housekeeping: a job as the operator sees it, and a requeue."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from indiepay.db.jobs.models import Job


class JobOut(BaseModel):
    """A job of the queue: what it is, where it stands and the last error it met."""

    id: str
    kind: str
    status: str
    args: dict[str, Any]
    attempts: int
    max_attempts: int
    run_at: datetime
    created_at: datetime
    finished_at: datetime | None
    locked_by: str | None
    last_error: str | None


class JobList(BaseModel):
    data: list[JobOut]
    has_more: bool


class RequeueIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: str | None = Field(default=None, max_length=500, description="why it may run now; kept in the audit log")


def job_out(job: Job) -> JobOut:
    return JobOut(id=job.id, kind=job.kind, status=job.status, args=dict(job.args), attempts=job.attempts,
                  max_attempts=job.max_attempts, run_at=job.run_at, created_at=job.created_at,
                  finished_at=job.finished_at, locked_by=job.locked_by, last_error=job.last_error)
