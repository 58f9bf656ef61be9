"""HTTP (admin only): the job queue — ``GET /v1/jobs`` (dead ones by default), ``GET /v1/jobs/{id}`` and
``POST /v1/jobs/{id}/requeue`` for a dead job whose cause is mended."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from indiepay.audit.service import actor_of
from indiepay.housekeeping import service
from indiepay.housekeeping.schemas import JobList, JobOut, RequeueIn, job_out
from indiepay.httpapi.deps import Admin, Ctx

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])


@router.get("", response_model=JobList)
def list_jobs(ctx: Ctx, admin: Admin, status: str = "dead", kind: str | None = None,
              limit: Annotated[int, Query(ge=1, le=100)] = 50, starting_after: str | None = None) -> JobList:
    with ctx.db.read() as session:
        jobs = service.list_jobs(session, status=status, kind=kind, limit=limit + 1, starting_after=starting_after)
        return JobList(data=[job_out(job) for job in jobs[:limit]], has_more=len(jobs) > limit)


@router.get("/{job_id}", response_model=JobOut)
def get_job(job_id: str, ctx: Ctx, admin: Admin) -> JobOut:
    with ctx.db.read() as session:
        return job_out(service.get_job(session, job_id))


@router.post("/{job_id}/requeue", response_model=JobOut)
def requeue_job(job_id: str, ctx: Ctx, admin: Admin, body: RequeueIn | None = None) -> JobOut:
    with ctx.db.transaction() as session:
        service.requeue(session, ctx.clock, job_id=job_id, actor=actor_of(admin), note=body.note if body else None)
    ctx.wake_worker()
    with ctx.db.read() as session:
        return job_out(service.get_job(session, job_id))
