"""``indiepay`` commands. They parse options, build the runtime and call services — no rules here."""

from __future__ import annotations

import gc
import logging
import threading
from pathlib import Path
from typing import Annotated

import typer
import uvicorn

from indiepay.cli import advisor, archive, audit, backup, jobs, ledger, reconcile, settle, statements, vault
from indiepay.config import Settings
from indiepay.db.migrate import upgrade

app = typer.Typer(help="IndiePay: self-hosted payments for multi-merchant social e-commerce.",
                  no_args_is_help=True, add_completion=False)
app.add_typer(ledger.app, name="ledger", help="The double-entry ledger: verify the hash chain and balances.")
app.add_typer(archive.app, name="archive", help="Cold archives of the financial records: export, verify, status.")
app.add_typer(reconcile.app, name="reconcile", help="Reconcile the channels' daily bills: import a bill, run a day.")
app.add_typer(audit.app, name="audit", help="The audit log: verify its hash chain.")
app.add_typer(backup.app, name="backup", help="Online backups of the SQLite database: create, check.")
app.add_typer(jobs.app, name="jobs", help="The job queue: list, show, requeue dead jobs; prune what is past use.")
app.add_typer(vault.app, name="vault", help="The vault's master key: new-key, rotate, status, retire.")
app.command(name="statement")(statements.statement)
app.command(name="advisor")(advisor.advisor)
app.command(name="settle")(settle.settle)


def _settings(host: str | None = None, port: int | None = None) -> Settings:
    settings = Settings()
    updates: dict[str, object] = {}
    if host is not None:
        updates["host"] = host
    if port is not None:
        updates["port"] = port
    return settings.model_copy(update=updates) if updates else settings


def settle_heap() -> None:
    """Once the server is built: collect, then freeze what is left (modules, the application, compiled
    statements, caches) out of the cyclic collector's sight. A long-running server's full collections then
    scan only what requests created, instead of pausing a request for every object of the process — the
    pauses that make up a good part of a payment's p99. Only for the server process: in a process that
    builds many applications (the tests) it would pin their garbage."""
    gc.collect()
    gc.freeze()


def _logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per outgoing call is noise


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema (INDIEPAY_DATABASE_URL)."""
    settings = _settings()
    upgrade(settings.database_url)
    typer.echo(f"database is at the newest schema: {settings.database_url}")


@app.command()
def serve(host: Annotated[str | None, typer.Option(help="address to listen on")] = None,
          port: Annotated[int | None, typer.Option(help="port to listen on")] = None,
          demo_merchant: Annotated[bool, typer.Option(help="ensure a demo merchant with sandbox accounts")] = False,
          ) -> None:
    """Run the API, callbacks, checkout, sandbox gateways and the in-process worker."""
    from indiepay.app import create_app
    from indiepay.cli.bootstrap import announce
    from indiepay.runtime import Runtime

    settings = _settings(host, port)
    _logging(settings.log_level)
    upgrade(settings.database_url)
    runtime = Runtime.build(settings)
    generated_admin_key = runtime.bootstrap_admin_key()
    application = create_app(settings, runtime=runtime)
    threading.Thread(target=announce, args=(settings, generated_admin_key, demo_merchant), daemon=True).start()
    settle_heap()
    try:
        uvicorn.run(application, host=settings.host, port=settings.port, log_level=settings.log_level)
    finally:
        runtime.close()


@app.command()
def worker() -> None:
    """Run background jobs (queries, expiry, refunds, webhooks, settlement, payouts) against INDIEPAY_DATABASE_URL."""
    from indiepay.runtime import Runtime

    settings = _settings()
    _logging(settings.log_level)
    runtime = Runtime.build(settings)
    runtime.seed_jobs()
    typer.echo(f"worker {runtime.worker.worker_id} running; Ctrl-C to stop")
    try:
        runtime.worker.run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        runtime.close()


@app.command()
def sandbox(host: Annotated[str, typer.Option()] = "127.0.0.1",
            port: Annotated[int, typer.Option()] = 8100,
            state_dir: Annotated[Path | None, typer.Option(help="keep gateway state here (default: memory)")] = None,
            time_factor: Annotated[float, typer.Option(help="divide callback retry delays by this")] = 1.0,
            ) -> None:
    """Run the WeChat Pay, Alipay and UnionPay sandbox gateways standalone (/wechatpay, /alipay, /unionpay)."""
    from indiepay.sandbox.app import create_sandbox_app

    _logging("info")
    typer.echo(f"WeChat Pay sandbox: http://{host}:{port}/wechatpay\nAlipay sandbox:     "
               f"http://{host}:{port}/alipay/gateway.do\nUnionPay sandbox:   http://{host}:{port}/unionpay\n"
               f"Sandbox bank:       http://{host}:{port}/bank")
    uvicorn.run(create_sandbox_app(state_dir=state_dir, time_factor=time_factor), host=host, port=port,
                log_level="info")


@app.command()
def demo() -> None:
    """Run a whole sandbox payment story on every channel against a fresh in-process platform."""
    from indiepay.cli.demo import run_demo

    raise typer.Exit(run_demo(typer.echo))


if __name__ == "__main__":  # pragma: no cover
    app()
