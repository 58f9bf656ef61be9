"""HTTP: reconciliation runs, differences, bill uploads and monthly reports.

Who sees what: the operator (admin key) every account, the platform's own included; a merchant only
its own accounts — production accounts with a live key, sandbox accounts with a test key (reconciling
the sandbox is how the round trip is tried). Anything else is a 404, as for any other tenant's object.
"""

from __future__ import annotations

import tempfile
from datetime import date as Date
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from indiepay.context import ServiceContext
from indiepay.core.errors import InvalidRequest, NotFound
from indiepay.httpapi.deps import Caller, Ctx
from indiepay.merchants.auth import Principal
from indiepay.reconciliation import bills, fundflow_service, repository, resolution, service
from indiepay.reconciliation.models import ReconciliationRun
from indiepay.reconciliation.schemas import (
    DifferenceOut,
    FundFlowStoredOut,
    ReportOut,
    ResolveIn,
    RunList,
    RunOut,
    difference_out,
    differences_csv,
    report_out,
    run_out,
)

router = APIRouter(prefix="/v1/reconciliation", tags=["reconciliation"])
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}}


def _visible(ctx: Ctx, caller: Principal) -> list[str] | None:
    with ctx.db.read() as session:
        return resolution.visible_accounts(session, caller)


def _scoped(visible: list[str] | None, account_id: str | None) -> list[str] | None:
    """The accounts a listing covers: the caller's visible ones (None: every account, the operator), narrowed
    to ``account_id`` when one is named. A named account the caller cannot see narrows to none — an empty
    list, never None and never the account itself: a merchant whose key's mode has no account of its own
    must not read another's by naming it."""
    if account_id is None:
        return visible
    return [account_id] if visible is None or account_id in visible else []


def _day(value: str | None) -> Date | None:
    if value is None:
        return None
    try:
        return Date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidRequest("date must be YYYY-MM-DD", code="invalid_date", details={"param": "date"}) from exc


def _actor(caller: Principal) -> str:
    return "admin" if caller.is_admin else f"merchant:{caller.merchant_id}"


@router.get("/runs", response_model=RunList)
def list_runs(ctx: Ctx, caller: Caller, account_id: str | None = None,
              date: Annotated[str | None, Query(description="business day, YYYY-MM-DD")] = None,
              limit: Annotated[int, Query(ge=1, le=100)] = 20) -> RunList:
    accounts = _scoped(_visible(ctx, caller), account_id)
    with ctx.db.read() as session:
        runs = repository.runs(session, account_ids=accounts, day=_day(date), limit=limit)
        diffs = repository.run_differences(session, [run.id for run in runs])
        fees = repository.fee_sets(session, [run.id for run in runs])
    return RunList(data=[run_out(run, diffs[run.id], fees.get(run.id)) for run in runs])


@router.get("/runs/{run_id}", response_model=RunOut, responses=_CSV)
def get_run(run_id: str, ctx: Ctx, caller: Caller,
            fmt: Annotated[str, Query(alias="format", description="json (default) or csv")] = "json") -> Any:
    if fmt not in ("json", "csv"):
        raise InvalidRequest("format must be json or csv", code="invalid_format")
    visible = _visible(ctx, caller)
    with ctx.db.read() as session:
        run = session.get(ReconciliationRun, run_id)
        if run is None or (visible is not None and run.account_id not in visible):
            raise NotFound(f"no reconciliation run {run_id}", code="reconciliation_run_not_found")
        diffs = repository.run_differences(session, [run.id])[run.id]
        fees = repository.fee_sets(session, [run.id]).get(run.id)
    if fmt == "csv":
        return Response(content=differences_csv(diffs), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="reconciliation-{run.account_id}-{run.business_date}.csv"'})
    return run_out(run, diffs, fees)


@router.post("/differences/{difference_id}/resolve", response_model=DifferenceOut, response_model_by_alias=True)
def resolve_difference(difference_id: str, body: ResolveIn, ctx: Ctx, caller: Caller) -> DifferenceOut:
    visible = _visible(ctx, caller)
    with ctx.db.transaction() as session:
        diff = resolution.resolve(session, ctx, difference_id, action=body.action, note=body.note,
                                  actor=_actor(caller), visible=visible)
        out = difference_out(diff)
    ctx.wake_worker()
    return out


_BILL_BODY = {"requestBody": {  # streamed from the request to disk: FastAPI cannot see it to document it
    "required": True, "description": "the channel's bill as it came: a WeChat Pay CSV (gzip or not), an Alipay "
                                     "zip of GBK CSVs, a UnionPay daily zip",
    "content": {media: {"schema": {"type": "string", "format": "binary"}}
                for media in ("application/octet-stream", "text/csv", "application/gzip", "application/zip")}}}


@router.post("/bills", response_model=RunOut | FundFlowStoredOut, status_code=201, openapi_extra=_BILL_BODY,
             responses={202: {"model": FundFlowStoredOut, "description": "a fund-flow bill stored before the "
                                                                         "day's trade bill"}})
async def upload_bill(request: Request, response: Response, ctx: Ctx, caller: Caller, account_id: str,
                      date: Annotated[str | None, Query(description="business day, YYYY-MM-DD")] = None,
                      kind: Annotated[Literal["auto", "trade", "fundflow"], Query(
                          description="trade bill, WeChat Pay fund-flow bill (资金账单), or auto: told apart by "
                                      "the file's header")] = "auto") -> RunOut | FundFlowStoredOut:
    """Upload a bill (raw body: WeChat Pay trade or fund-flow bill CSV, optionally gzip, or the Alipay zip).

    A trade bill is run; the run's fees are written back by the ``reconciliation.fees`` job after the
    response (``fees_pending``), so a big upload never holds the payments' write lock for its fees. A
    fund-flow bill is stored and checked against the day's run, which is returned (201) with its
    ``fundflow``; before the day's trade bill there is no run yet, and the answer is 202 with what was
    stored (the check runs when the trade bill is reconciled)."""
    visible = _visible(ctx, caller)
    if visible is not None and account_id not in visible:
        raise NotFound(f"no channel account {account_id}", code="account_not_found")
    with tempfile.TemporaryDirectory(prefix="indiepay-bill-upload-") as tmp:
        path = Path(tmp) / "bill"
        await _receive_to(request, path)
        outcome = await run_in_threadpool(_import_upload, ctx, account_id, path, kind, _day(date))
    if isinstance(outcome, FundFlowStoredOut):
        response.status_code = 202
    return outcome


async def _receive_to(request: Request, path: Path) -> None:
    """The body written to ``path`` as it arrives (a bill may be hundreds of MB: never held in memory; its
    size is capped at the door, see ``httpapi.body_limit``), so that DuckDB reads it in place.

    Raises:
        InvalidRequest (``bill_required``): an empty body.
    """
    size = 0
    with path.open("wb") as out:
        async for chunk in request.stream():
            size += len(chunk)
            out.write(chunk)
    if not size:
        raise InvalidRequest("the request body must be the bill file", code="bill_required")


def _import_upload(ctx: ServiceContext, account_id: str, path: Path, kind: str,
                   day: Date | None) -> RunOut | FundFlowStoredOut:
    """An uploaded bill imported: a trade bill run (its fees left to the fee job, so a big upload never holds
    the payments' write lock for them), a fund-flow bill stored and checked against the day's run."""
    with path.open("rb") as stream:
        if (bills.sniff_kind(stream) if kind == "auto" else kind) == bills.FUNDFLOW:
            outcome = fundflow_service.import_fundflow(ctx, account_id, stream, day=day, source="upload")
            if outcome.rerun:  # the day's run predates fund-flow checks: run it again, which checks the bill
                run = service.run_day(ctx, account_id, outcome.day, apply_fees=False).run
            elif outcome.run is None:
                return FundFlowStoredOut(account_id=account_id, date=outcome.day.isoformat())
            else:
                run = outcome.run
        else:
            run = service.import_bill(ctx, account_id, stream, day=day, source="upload", apply_fees=False).run
    with ctx.db.read() as session:
        diffs = repository.run_differences(session, [run.id])[run.id]
        fees = repository.fee_sets(session, [run.id]).get(run.id)
    return run_out(run, diffs, fees)


@router.get("/reports/{month}", response_model=ReportOut)
def monthly_report(month: str, ctx: Ctx, caller: Caller, account_id: str | None = None) -> ReportOut:
    """The month's matched count and amount, fees, and differences by class and status."""
    accounts = _scoped(_visible(ctx, caller), account_id)
    with ctx.db.read() as session:
        return report_out(resolution.month_report(session, month, accounts))
