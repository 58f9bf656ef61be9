"""API and CLI shapes of reconciliation runs, differences and reports (amounts in fen).

The CLI's ``--json`` document and the API share :func:`run_summary` for the fields the issue fixes
(``id, account_id, date, bill_sha1, matched_count, matched_amount, differences[id, class, out_trade_no,
out_refund_no, local_amount, channel_amount, status]``) and, beside them, ``fundflow``: how the day's
WeChat Pay fund-flow bill compares with its trade bill (``status`` agreed | disagreed | missing, both sides'
totals, ``disagreements``; None for Alipay; :mod:`.fundflow`). The API adds the rest of the run's figures and
the state of its fee write-back, which a job does after the run (:mod:`.fees`): ``fee_payments`` payments
whose fee the bill changed, ``fees_pending`` of them not written yet, ``fees_applied_at`` once all are.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from indiepay.reconciliation.models import ReconciliationDifference, ReconciliationFees, ReconciliationRun
from indiepay.reconciliation.resolution import MonthReport

CSV_COLUMNS = ("id", "class", "kind", "out_trade_no", "out_refund_no", "local_amount", "channel_amount", "status",
               "resolved_by", "resolved_at", "note")


class DifferenceOut(BaseModel):
    id: str
    klass: str = Field(serialization_alias="class")
    kind: str
    out_trade_no: str
    out_refund_no: str | None
    local_amount: int | None
    channel_amount: int | None
    status: str
    business_date: str
    account_id: str
    run_id: str
    payment_id: str | None
    refund_id: str | None
    local_status: str | None
    details: dict[str, Any]
    resolved_by: str | None
    resolved_at: datetime | None
    note: str | None


class FlowFigureOut(BaseModel):
    count: int
    amount: int


class FundFlowTotalsOut(BaseModel):
    payments: FlowFigureOut
    refunds: FlowFigureOut
    fees_charged: FlowFigureOut
    fees_returned: FlowFigureOut
    net: int


class FundFlowDisagreementOut(BaseModel):
    item: Literal["payments", "refunds", "fees_charged", "fees_returned"]
    trade_count: int
    fundflow_count: int
    trade_amount: int
    fundflow_amount: int
    difference: int


class FundFlowOut(BaseModel):
    """How the day's fund-flow bill compares with its trade bill (:mod:`.fundflow`)."""

    status: Literal["agreed", "disagreed", "missing"]
    bill_sha1: str | None
    bill_rows: int
    trade: FundFlowTotalsOut
    fundflow: FundFlowTotalsOut | None
    other: dict[str, FlowFigureOut]
    disagreements: list[FundFlowDisagreementOut]


class FundFlowStoredOut(BaseModel):
    """A fund-flow bill stored before its day's trade bill: it is checked when that bill is reconciled."""

    account_id: str
    date: str
    bill: Literal["fundflow"] = "fundflow"
    status: Literal["stored"] = "stored"
    run: None = None


class RunOut(BaseModel):
    id: str
    account_id: str
    date: str
    channel: str
    bill_sha1: str
    rule_version: str
    status: str
    bill_rows: int
    local_rows: int
    matched_count: int
    matched_amount: int
    bill_amount: int
    local_amount: int
    bill_fee: int
    booked_fee: int
    fee_corrections: int
    fee_payments: int
    fees_pending: int
    fees_applied_at: datetime | None
    open_differences: int
    counts: dict[str, int]
    executions: int
    created_at: datetime
    updated_at: datetime
    differences: list[DifferenceOut]
    fundflow: FundFlowOut | None = None


class RunList(BaseModel):
    data: list[RunOut]


class ResolveIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: Literal["resolve", "ignore"]
    note: str = Field(min_length=1, max_length=2000)


class ReportOut(BaseModel):
    month: str
    runs: int
    bill_rows: int
    matched_count: int
    matched_amount: int
    bill_amount: int
    bill_fee: int
    booked_fee: int
    fee_corrections: int
    differences: dict[str, dict[str, int]]


def difference_out(row: ReconciliationDifference) -> DifferenceOut:
    return DifferenceOut(id=row.id, klass=row.klass, kind=row.kind, out_trade_no=row.out_trade_no,
                         out_refund_no=row.out_refund_no, local_amount=row.local_amount,
                         channel_amount=row.channel_amount, status=row.status, business_date=row.business_date,
                         account_id=row.account_id, run_id=row.run_id, payment_id=row.payment_id,
                         refund_id=row.refund_id, local_status=row.local_status, details=row.details,
                         resolved_by=row.resolved_by, resolved_at=row.resolved_at, note=row.note)


def run_out(run: ReconciliationRun, differences: list[ReconciliationDifference],
            fees: ReconciliationFees | None = None) -> RunOut:
    """The run for the API; ``fees`` None is a run from before the fee job, whose fees the run wrote."""
    fee_payments = fees.fee_count if fees is not None else 0
    pending = fees.fee_count - fees.applied_count if fees is not None and fees.applied_at is None else 0
    applied_at = fees.applied_at if fees is not None else run.updated_at
    return RunOut(fee_payments=fee_payments, fees_pending=pending, fees_applied_at=applied_at,
                  id=run.id, account_id=run.account_id, date=run.business_date, channel=run.channel,
                  bill_sha1=run.bill_sha1, rule_version=run.rule_version, status=run.status, bill_rows=run.bill_rows,
                  local_rows=run.local_rows, matched_count=run.matched_count, matched_amount=run.matched_amount,
                  bill_amount=run.bill_amount, local_amount=run.local_amount, bill_fee=run.bill_fee,
                  booked_fee=run.booked_fee, fee_corrections=run.fee_corrections,
                  open_differences=run.open_differences, counts={k: int(v) for k, v in run.counts.items()},
                  executions=run.executions, created_at=run.created_at, updated_at=run.updated_at,
                  differences=[difference_out(d) for d in differences],
                  fundflow=FundFlowOut.model_validate(run.fundflow) if run.fundflow is not None else None)


def run_summary(run: ReconciliationRun, differences: list[ReconciliationDifference]) -> dict[str, Any]:
    """The run as the CLI's ``--json`` prints it: the fields the issue names, plus ``fundflow``."""
    return {"id": run.id, "account_id": run.account_id, "date": run.business_date, "bill_sha1": run.bill_sha1,
            "matched_count": run.matched_count, "matched_amount": run.matched_amount,
            "differences": [{"id": d.id, "class": d.klass, "out_trade_no": d.out_trade_no,
                             "out_refund_no": d.out_refund_no, "local_amount": d.local_amount,
                             "channel_amount": d.channel_amount, "status": d.status} for d in differences],
            "fundflow": run.fundflow}


def report_out(report: MonthReport) -> ReportOut:
    return ReportOut(month=report.month, runs=report.runs, bill_rows=report.bill_rows,
                     matched_count=report.matched_count, matched_amount=report.matched_amount,
                     bill_amount=report.bill_amount, bill_fee=report.bill_fee, booked_fee=report.booked_fee,
                     fee_corrections=report.fee_corrections, differences=report.differences)


def differences_csv(differences: list[ReconciliationDifference]) -> str:
    """A run's differences as CSV (UTF-8, header first), for the accountant's spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for d in differences:
        writer.writerow([d.id, d.klass, d.kind, d.out_trade_no, d.out_refund_no or "", d.local_amount,
                         d.channel_amount, d.status, d.resolved_by or "",
                         d.resolved_at.strftime("%Y-%m-%dT%H:%M:%SZ") if d.resolved_at else "", d.note or ""])
    return buffer.getvalue()
