"""The operator's page of the job queue: the dead jobs, and queuing one again once its cause is mended.

The platform's deferred work runs as jobs (:mod:`indiepay.db.jobs`): a webhook delivered to a merchant, a
refund's outcome synced from its channel, a payout sent. A job that keeps failing is retried with backoff until
its attempts run out; then the worker gives up on it and the job is *dead* — work the platform owes and no
longer tries. Its cause usually lies outside it: a merchant's endpoint down for a day, a channel refusing calls
until a credential is renewed, a release that did not know the job's kind yet. Once that is mended, the
operator queues the job again from here, rather than by hand-written API calls. The page lists the jobs of one
status (dead by default; queued, running and done too, to follow one through), optionally of one kind, 50 a
page, each with its arguments and the last error it met, and holds the requeue form of each dead one.

Nothing here decides anything the API would not: the list comes from
:func:`indiepay.housekeeping.service.list_jobs` as ``GET /v1/jobs`` (``invalid_job_status`` for a status no
job has), the requeue goes through :func:`~indiepay.housekeeping.service.requeue` as
``POST /v1/jobs/{id}/requeue`` does (a dead job only, a note of 500 characters at most; audited there as
``job.requeued``, with the operator as its actor), and the worker is woken after the commit, as there.

Only the operator's session may use this page; any other gets ``admin_required`` (403).
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from indiepay.audit.service import actor_of
from indiepay.core.errors import IndiePayError
from indiepay.dashboard.service import Signed
from indiepay.housekeeping import service
from indiepay.housekeeping.schemas import JobOut, job_out
from indiepay.web.dashboard import HEADERS, PostedForm, ctx_of, form_text, render
from indiepay.web.dashboard_operator import operator_acting, operator_signed_in

router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE = "/dashboard/jobs"
JOBS_PAGE = 50
TABS = sorted(service.JOB_STATUSES, key=lambda status: status != "dead")  # the ones to look at first
NOTICES = {"requeued": "The job is queued again; the worker runs it now."}


def _link(status: str, kind: str | None, starting_after: str | None = None) -> str:
    params = {"status": status, "kind": kind, "starting_after": starting_after}
    return f"{PAGE}?{urlencode({name: value for name, value in params.items() if value})}"


def _args_text(job: JobOut) -> str:
    """A job's arguments as JSON, left as text: the template's autoescape makes it safe to show."""
    return json.dumps(job.args, ensure_ascii=False, sort_keys=True)


def _page(request: Request, signed: Signed, status_code: int = 200, error: IndiePayError | None = None) -> HTMLResponse:
    """The list of the status and kind the query names (dead jobs of any kind by default); ``error`` (an action
    refused) is shown above it. A status no job has is shown as the page's own error, with no list."""
    ctx = ctx_of(request)
    query = request.query_params
    status = query.get("status") or "dead"
    kind = query.get("kind") or None
    after = query.get("starting_after") or None
    jobs: list[JobOut] = []
    try:
        with ctx.db.read() as session:
            rows = service.list_jobs(session, status=status, kind=kind, limit=JOBS_PAGE + 1, starting_after=after)
            jobs = [job_out(row) for row in rows]
    except IndiePayError as exc:  # a status no job has (invalid_job_status): the page with it, and no list
        if error is None:
            error, status_code = exc, exc.http_status
    shown, has_more = jobs[:JOBS_PAGE], len(jobs) > JOBS_PAGE
    return render(request, "jobs.html", signed, status_code=status_code, error=error,
                  notice=NOTICES.get(query.get("done") or "") if error is None else None,
                  jobs=[(job, _args_text(job)) for job in shown], status=status, kind=kind or "",
                  tabs=[(value, _link(value, kind)) for value in TABS],
                  next_page=_link(status, kind, shown[-1].id) if has_more else None,
                  page=JOBS_PAGE, max_note=service.MAX_NOTE)


@router.get("/jobs", response_class=HTMLResponse, response_model=None)
def jobs_page(request: Request) -> Response:
    signed = operator_signed_in(request)
    if isinstance(signed, Response):
        return signed
    return _page(request, signed)


@router.post("/jobs/{job_id}/requeue", response_model=None)
def requeue(job_id: str, request: Request, form: PostedForm) -> Response:
    """Queue a dead job again, due now, with the form's note (optional) kept in the audit log; a refusal
    (``job_not_found``, ``job_not_dead``, ``note_too_long``) comes back on the list of dead jobs."""
    signed = operator_acting(request, form)
    if isinstance(signed, Response):
        return signed
    ctx = ctx_of(request)
    note = (form_text(form, "note") or "").strip() or None
    try:
        with ctx.db.transaction() as session:
            service.requeue(session, ctx.clock, job_id=job_id, actor=actor_of(signed.principal), note=note)
    except IndiePayError as exc:
        return _page(request, signed, status_code=exc.http_status, error=exc)
    ctx.wake_worker()
    return RedirectResponse(f"{PAGE}?done=requeued", status_code=303, headers=HEADERS)
