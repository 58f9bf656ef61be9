"""The operator's view of the job queue over real HTTP and from the command line: dead jobs listed, shown and
queued again (audited, then run by the worker), never by a merchant; the refusals have stable codes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from indiepay.cli.main import app
from indiepay.db.engine import Database
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.queue import enqueue
from indiepay.db.migrate import upgrade
from tests.support.platform import PlatformUnderTest

LONG_AGO = datetime(2026, 1, 1, tzinfo=UTC)


def _dead_job(db: Database, job_id: str, kind: str = "no.such.kind") -> None:
    """A job that died two hours ago (recent: the platform's own daily prune, which runs when it starts, keeps
    dead jobs 90 days)."""
    died = datetime.now(UTC) - timedelta(hours=2)
    with db.transaction() as session:
        session.add(Job(id=job_id, kind=kind, args={"why": "a kind no worker knows"}, unique_key=None,
                        status="dead", run_at=died, attempts=12, max_attempts=12, created_at=died,
                        finished_at=died, last_error="no handler for job kind"))


def test_the_operator_lists_shows_and_requeues_a_dead_job(platform: PlatformUnderTest) -> None:
    merchant = platform.merchant("Tea")
    db = platform.runtime.ctx.db
    day = datetime.now(UTC).date().isoformat()
    _dead_job(db, "job_dead_1", kind="dashboard.prune")  # a kind the worker runs: it will succeed once queued
    listed = platform.admin.get("/v1/jobs")
    assert listed.status_code == 200, listed.text
    assert [job["id"] for job in listed.json()["data"]] == ["job_dead_1"] and not listed.json()["has_more"]
    shown = platform.admin.get("/v1/jobs/job_dead_1").json()
    assert shown["status"] == "dead" and shown["attempts"] == 12 and shown["last_error"] == "no handler for job kind"

    assert merchant.api.get("/v1/jobs").json()["error"]["code"] == "admin_required"
    assert merchant.api.post("/v1/jobs/job_dead_1/requeue").status_code == 403
    assert platform.admin.get("/v1/jobs/job_nope").json()["error"]["code"] == "job_not_found"
    assert platform.admin.get("/v1/jobs", params={"status": "zombie"}).json()["error"]["code"] == "invalid_job_status"
    too_long = platform.admin.post("/v1/jobs/job_dead_1/requeue", json={"note": "x" * 501})
    assert too_long.status_code == 400 and too_long.json()["error"]["code"]
    assert platform.admin.get("/v1/jobs/job_dead_1").json()["status"] == "dead"  # nothing changed

    with db.transaction() as session:  # the job's own argument, as the chain would have queued it
        session.get(Job, "job_dead_1").args = {"date": day}  # type: ignore[union-attr]
    requeued = platform.admin.post("/v1/jobs/job_dead_1/requeue", json={"note": "handler fixed"})
    assert requeued.status_code == 200, requeued.text
    assert requeued.json()["status"] in ("queued", "running", "done") and requeued.json()["attempts"] <= 1
    again = platform.admin.post("/v1/jobs/job_dead_1/requeue")
    assert again.status_code == 409 and again.json()["error"]["code"] == "job_not_dead"
    deadline = time.monotonic() + 10
    while platform.admin.get("/v1/jobs/job_dead_1").json()["status"] != "done":
        assert time.monotonic() < deadline, "the requeued job never ran"
        time.sleep(0.05)
    events = platform.admin.get("/v1/audit_events", params={"action": "job.requeued"}).json()
    assert [(e["target_id"], e["actor"], e["details"]["note"]) for e in events] == [
        ("job_dead_1", "admin", "handler fixed")]
    assert merchant.api.get("/v1/audit_events", params={"action": "job.requeued"}).json() == []


def test_the_list_pages_by_due_time_and_filters_by_kind(platform: PlatformUnderTest) -> None:
    db = platform.runtime.ctx.db
    for n in range(3):
        _dead_job(db, f"job_dead_{n}")
    _dead_job(db, "job_other", kind="other.kind")
    first = platform.admin.get("/v1/jobs", params={"limit": 2, "kind": "no.such.kind"}).json()
    assert len(first["data"]) == 2 and first["has_more"]
    rest = platform.admin.get("/v1/jobs", params={"limit": 2, "kind": "no.such.kind",
                                                  "starting_after": first["data"][-1]["id"]}).json()
    assert not rest["has_more"]
    assert {j["id"] for j in first["data"] + rest["data"]} == {"job_dead_0", "job_dead_1", "job_dead_2"}


def test_the_command_line_lists_requeues_and_prunes(sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
                                                    tmp_path: Path) -> None:
    upgrade(sqlite_url)
    monkeypatch.setenv("INDIEPAY_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("INDIEPAY_VAR_DIR", str(tmp_path))
    db = Database(sqlite_url)
    try:
        _dead_job(db, "job_cli")
        with db.transaction() as session:
            enqueue(session, "payment.query", {"payment_id": "pay_x"}, now=LONG_AGO)
            session.flush()
            for job in session.scalars(select(Job).where(Job.kind == "payment.query")):
                job.status, job.finished_at = "done", LONG_AGO
        runner = CliRunner()
        listed = runner.invoke(app, ["jobs", "list"])
        assert listed.exit_code == 0 and "job_cli" in listed.stdout and "no handler for job kind" in listed.stdout
        as_json = json.loads(runner.invoke(app, ["jobs", "list", "--json"]).stdout)
        assert [job["id"] for job in as_json] == ["job_cli"]
        assert json.loads(runner.invoke(app, ["jobs", "show", "job_cli"]).stdout)["kind"] == "no.such.kind"
        done = runner.invoke(app, ["jobs", "requeue", "job_cli", "--note", "kind deployed"])
        assert done.exit_code == 0 and "requeued job_cli" in done.stdout
        assert runner.invoke(app, ["jobs", "list"]).stdout.strip() == "no dead jobs"
        refused = runner.invoke(app, ["jobs", "requeue", "job_cli"])
        assert refused.exit_code == 1 and refused.stderr.startswith("error (job_not_dead): ")
        pruned = json.loads(runner.invoke(app, ["jobs", "prune", "--json"]).stdout)
        assert pruned["deleted"]["done_jobs"] == 1 and pruned["transactions"] >= 4
        with db.read() as session:
            assert {job.id for job in session.scalars(select(Job))} == {"job_cli"}
            assert session.get(Job, "job_cli").status == "queued"  # type: ignore[union-attr]
    finally:
        db.dispose()
