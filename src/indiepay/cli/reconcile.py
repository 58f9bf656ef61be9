"""``indiepay reconcile import FILE --account ID [--date D] [--kind auto|trade|fundflow]`` and ``indiepay
reconcile run --date D [--account ID] [--json]``: reconcile bills by hand (the worker does it every morning
at 10:00 Beijing). ``import`` tells a WeChat Pay fund-flow bill (资金账单) from a trade bill by its header
(or ``--kind``) and checks it against the day's run; ``run`` fetches a WeChat Pay account's fund-flow bill
with its trade bill (a day whose trade bill was imported takes its fund-flow bill by import too).

They parse options, build the runtime and call the reconciliation service only. ``--json`` prints exactly
one JSON object, ``{"runs": [...]}``, on stdout; the progress bar goes to stderr and is off with ``--json``.
Exit codes: 0 done (differences or not), 1 a run failed (bill invalid, not ready, channel error), 2 bad
options.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, BinaryIO

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from indiepay.accounts.models import ChannelAccount
from indiepay.channels.base import BillNotReady, ChannelError
from indiepay.cli.errors import refused
from indiepay.config import Settings
from indiepay.context import ServiceContext
from indiepay.core.errors import IndiePayError, InvalidRequest, NotFound
from indiepay.reconciliation import bills, fundflow_service, repository, service
from indiepay.reconciliation.schemas import run_summary
from indiepay.runtime import Runtime

app = typer.Typer(help="Reconcile the channels' daily bills against IndiePay's records.", no_args_is_help=True)
PHASES = ("parse", "local", "match", "store")
_err = Console(stderr=True)


def _date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise refused(InvalidRequest(f"--date must be YYYY-MM-DD, got {value!r}", code="invalid_date"),
                      exit_code=2) from exc


def _runtime() -> Runtime:
    return Runtime.build(Settings().model_copy(update={"run_worker": False}))


def _print(runtime: Runtime, results: list[service.RunResult], as_json: bool) -> None:
    with runtime.ctx.db.read() as session:
        diffs = repository.run_differences(session, [result.run.id for result in results])
    runs = [run_summary(result.run, diffs[result.run.id]) for result in results]
    if as_json:
        typer.echo(json.dumps({"runs": runs}, ensure_ascii=False))
        return
    for result in results:
        run = result.run
        typer.echo(f"{run.account_id} {run.business_date}: {run.status}, matched {run.matched_count} "
                   f"({run.matched_amount} fen) of {run.bill_rows} bill rows, {run.open_differences} open "
                   f"difference(s) {dict(run.counts) or ''}  [run {run.id}, rules {run.rule_version}]")
        for d in diffs[run.id]:
            typer.echo(f"  {d.status:<8} {d.klass:<18} {d.out_trade_no} {d.out_refund_no or ''} "
                       f"local={d.local_amount} channel={d.channel_amount}  ({d.id})")


def _progress(as_json: bool) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[phase]}"),
                    TimeElapsedColumn(), console=_err, disable=as_json, transient=False)


def _advance(bar: Progress, task: Any) -> Callable[[str], None]:
    def told(phase: str) -> None:
        bar.update(task, completed=PHASES.index(phase) if phase in PHASES else 0, phase=phase)
    return told


def _import_fundflow(runtime: Runtime, account: str, stream: BinaryIO, day: date | None) -> list[service.RunResult]:
    """Store a fund-flow bill and check it against its day's run (re-running a day whose run predates
    fund-flow checks); no run yet: nothing to show until the trade bill is reconciled."""
    ctx = runtime.ctx
    outcome = fundflow_service.import_fundflow(ctx, account, stream, day=day)
    if outcome.rerun:
        return [service.run_day(ctx, account, outcome.day)]
    if outcome.run is None:
        _err.print(f"{account}: fund-flow bill of {outcome.day} stored; it is checked when the day's trade bill "
                   "is reconciled")
        return []
    return [service.RunResult(outcome.run, [])]


def import_bill(file: Annotated[Path, typer.Argument(help="WeChat Pay trade or fund-flow bill CSV (.gz too) or "
                                                     "Alipay zip")],
                account: Annotated[str, typer.Option("--account", help="the channel account id")],
                date_: Annotated[str | None, typer.Option("--date", help="business day YYYY-MM-DD (default: "
                                                          "the day of the bill's first row)")] = None,
                kind: Annotated[str, typer.Option(
                    "--kind", help="trade, fundflow (WeChat Pay 资金账单, checked against the day's trade bill) "
                                   "or auto: told apart by the file's header")] = "auto",
                as_json: Annotated[bool, typer.Option("--json", help="print the run as JSON")] = False) -> None:
    """Store a bill file from disk and reconcile its day (a fund-flow bill: check it against the day's run)."""
    day = _date(date_)
    if kind not in ("auto", bills.TRADE, bills.FUNDFLOW):
        raise refused(InvalidRequest(f"--kind must be auto, trade or fundflow, got {kind!r}",
                                     code="invalid_bill_kind"), exit_code=2)
    runtime = _runtime()
    try:
        with bills.open_file(file) as stream:
            if (bills.sniff_kind(stream) if kind == "auto" else kind) == bills.FUNDFLOW:
                results = _import_fundflow(runtime, account, stream, day)
            else:
                with _progress(as_json) as bar:
                    task = bar.add_task(account, total=len(PHASES), phase="")
                    results = [service.import_bill(runtime.ctx, account, stream, day=day,
                                                   progress=_advance(bar, task))]
                    bar.update(task, completed=len(PHASES), phase="done")
        _print(runtime, results, as_json)
    except IndiePayError as exc:
        raise refused(exc) from exc
    finally:
        runtime.close()


def _fetch_fundflow(ctx: ServiceContext, account: ChannelAccount, day: date) -> bool:
    """Fetch the day's fund-flow bill of a WeChat Pay account unless stored, before its run checks it;
    False (told on stderr) when that failed — the run goes on, its fund-flow check then ``missing``."""
    if not fundflow_service.publishes_fundflow(account):
        return True
    try:
        fundflow_service.fetch_and_store(ctx, account, day)
    except BillNotReady as exc:
        _err.print(f"{account.id}: the fund-flow bill of {day} is not published yet ({exc})")
        return False
    except (IndiePayError, ChannelError) as exc:
        _err.print(f"{account.id}: fund-flow bill: {getattr(exc, 'code', 'error')}: {exc}")
        return False
    return True


def run(date_: Annotated[str, typer.Option("--date", help="business day YYYY-MM-DD (Beijing)")],
        account: Annotated[str | None, typer.Option("--account", help="only this channel account")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="print the runs as one JSON object")] = False,
        defer_fees: Annotated[bool, typer.Option(
            "--defer-fees", help="leave the fee write-back to the worker's reconciliation.fees job")] = False) -> None:
    """Reconcile a day: stored bills, and for accounts without one the bill fetched from the channel.

    The bill's fees are written back before the command exits (it is a one-shot command), in short batches;
    ``--defer-fees`` leaves them to a running worker instead."""
    day = _date(date_)
    assert day is not None
    runtime = _runtime()
    ctx = runtime.ctx
    results: list[service.RunResult] = []
    failed = False
    try:
        with ctx.db.read() as session:
            accounts = [a for a in repository.active_accounts(session, account) if a.channel in ("wechatpay", "alipay")]
            stored = set(repository.bills_of_day(session, day, account))
        if account is not None and not accounts:  # a mistyped id must not pass for "nothing to reconcile"
            raise refused(NotFound(f"no WeChat Pay or Alipay channel account {account}", code="account_not_found"))
        with _progress(as_json) as bar:
            for acct in accounts:
                task = bar.add_task(acct.id, total=len(PHASES), phase="fetch" if acct.id not in stored else "")
                told = _advance(bar, task)
                try:
                    if acct.id in stored:
                        results.append(service.run_day(ctx, acct.id, day, progress=told,
                                                       apply_fees=not defer_fees))
                    else:
                        if not _fetch_fundflow(ctx, acct, day):
                            failed = True
                        bill = service.fetch_bill_for(ctx, acct, day)
                        results.append(service.reconcile_fetched(ctx, acct.id, bill, progress=told,
                                                                 apply_fees=not defer_fees))
                    bar.update(task, completed=len(PHASES), phase="done")
                except BillNotReady as exc:
                    failed = True
                    bar.update(task, phase="not ready")
                    _err.print(f"{acct.id}: the bill of {day} is not published yet ({exc})")
                except (IndiePayError, ChannelError) as exc:
                    failed = True
                    bar.update(task, phase="failed")
                    _err.print(f"{acct.id}: {getattr(exc, 'code', 'error')}: {exc}")
        _print(runtime, results, as_json)
    finally:
        runtime.close()
    if failed:
        raise typer.Exit(code=1)


app.command(name="import")(import_bill)
app.command(name="run")(run)
