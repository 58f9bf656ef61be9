"""``indiepay statement``: an operator generates (or fetches, once final) a merchant's monthly statement.

Same rules as ``GET /v1/statements/{month}``: a draft until a day after the month ends, final from then on,
and a final statement is returned as stored. It calls services only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.core.clock import SystemClock
from indiepay.core.errors import IndiePayError
from indiepay.db.engine import Database
from indiepay.statements import exports, render, service
from indiepay.statements.tax import tax_summary

FORMATS = ("json", "csv", "xlsx")


def statement(merchant: Annotated[str, typer.Option("--merchant", help="the merchant id (mch_…)")],
              month: Annotated[str, typer.Option("--month", help="YYYY-MM, Asia/Shanghai")],
              fmt: Annotated[str, typer.Option("--format", help="json, csv or xlsx")] = "json",
              out: Annotated[Path | None, typer.Option("--out", help="write here instead of stdout")] = None,
              currency: Annotated[str, typer.Option("--currency")] = "CNY",
              tax: Annotated[bool, typer.Option("--tax-summary", help="the month's tax summary instead")] = False,
              ) -> None:
    """Generate a merchant's monthly statement (INDIEPAY_DATABASE_URL) as JSON, CSV or XLSX."""
    if fmt not in FORMATS:
        raise typer.BadParameter(f"must be one of {', '.join(FORMATS)}", param_hint="--format")
    if fmt == "xlsx" and out is None:
        raise typer.BadParameter("an XLSX file is binary: give --out FILE", param_hint="--out")
    database = Database(Settings().database_url)
    try:
        issued = service.issue(database, SystemClock(), merchant_id=merchant, month=month, currency=currency)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        database.dispose()
    content = _render(issued, fmt, tax)
    if out is None:
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    out.write_bytes(content)
    what = "tax summary" if tax else "statement"
    typer.echo(f"{issued.status} {what} {issued.month} of {issued.merchant_id} written to {out} "
               f"(sha256 {issued.body_sha256})", err=True)


def _render(issued: service.IssuedStatement, fmt: str, tax: bool) -> bytes:
    stamp = issued.generated_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    if tax:
        summary = tax_summary(issued.body, status=issued.status, statement_sha256=issued.body_sha256)
        if fmt == "json":
            return _json(summary)
        document = exports.tax_document(summary, generated_at=stamp)
    else:
        if fmt == "json":
            return _json({"object": "statement", "id": issued.id, "merchant_id": issued.merchant_id,
                          "month": issued.month, "currency": issued.currency, "status": issued.status,
                          "generated_at": stamp, "body_sha256": issued.body_sha256, "body": issued.body})
        document = exports.statement_document(issued.body, status=issued.status, generated_at=stamp,
                                              sha256=issued.body_sha256)
    return render.to_csv(document) if fmt == "csv" else render.to_xlsx(document)


def _json(data: object) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2) + "\n").encode("utf-8")
