"""A restarted worker gives back at once the jobs a killed worker process of its machine was running, and
leaves every claim it cannot be sure is dead to the lease."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from indiepay.core.clock import FixedClock, SystemClock
from indiepay.db.engine import Database
from indiepay.db.jobs import owners, queue
from indiepay.db.jobs.models import Job
from indiepay.db.jobs.worker import Worker

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _finished_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_worker_id_names_its_machine_and_process() -> None:
    worker_id = owners.new_worker_id("host-a/4026531836", 4242)
    assert owners.owner_of(worker_id) == owners.Owner("host-a/4026531836", 4242)
    assert len(owners.new_worker_id("h" * 32 + "/" + "9" * 12, 4_194_304)) <= owners.MAX_ID_LENGTH
    for other_shape in ("dead-worker", "vm:20145:w_abc123", "", "a/b:x:w_1"):
        assert owners.owner_of(other_shape) is None


def test_only_claims_certainly_dead_are_dead() -> None:
    here, mine = "host-a/1", 1000
    live_here = {f"{here}:{mine}:w_live"}

    def dead(worker_id: str) -> bool:
        return owners.is_dead(worker_id, machine=here, live_here=live_here, pid=mine)

    assert dead(f"{here}:{_finished_pid()}:w_x")  # its process is gone
    assert dead(f"{here}:{mine}:w_before")  # this PID, but no worker of this process: an earlier life of it
    assert not dead(f"{here}:{mine}:w_live")
    assert not dead(f"{here}:{os.getpid()}:w_x")  # a process that exists (perhaps a reused PID): the lease decides
    assert not dead(f"host-b/1:{_finished_pid()}:w_x")  # another machine, or another container's namespace
    assert not dead("dead-worker")


def _claim(db: Database, worker_id: str, *, attempts: int = 0, max_attempts: int = 12) -> str:
    with db.transaction() as session:
        queue.enqueue(session, "k", {"by": worker_id}, now=T0, max_attempts=max_attempts)
    with db.transaction() as session:
        job = session.query(Job).filter(Job.status == "queued").one()
        job.status, job.locked_by, job.locked_until = "running", worker_id, T0 + queue.LEASE
        job.attempts = attempts + 1
        return job.id


def test_recover_releases_dead_workers_jobs_and_nothing_else(db: Database) -> None:
    clock = FixedClock(T0 + timedelta(seconds=30))  # well inside every lease
    ran: list[str] = []
    worker = Worker(db, clock, {"k": lambda args: ran.append(args["by"])})
    here = worker.machine
    dead_process = _claim(db, f"{here}:{_finished_pid()}:w_dead")
    earlier_life = _claim(db, f"{here}:{os.getpid()}:w_before")
    worn_out = _claim(db, f"{here}:{_finished_pid()}:w_poison", attempts=2, max_attempts=3)
    kept = {_claim(db, worker.worker_id), _claim(db, f"{here}:{os.getppid()}:w_alive"),
            _claim(db, f"elsewhere/1:{_finished_pid()}:w_x"), _claim(db, "legacy-worker")}

    assert worker.recover() == 3
    assert worker.run_once() == 2
    with db.read() as session:
        jobs = {job.id: job for job in session.query(Job)}
    assert {jobs[dead_process].status, jobs[earlier_life].status} == {"done"}
    assert jobs[dead_process].attempts == 2  # the interrupted run counted
    assert jobs[worn_out].status == "dead" and "stopped while running it" in (jobs[worn_out].last_error or "")
    assert {jobs[job_id].status for job_id in kept} == {"running"}
    assert sorted(ran) == sorted([jobs[dead_process].args["by"], jobs[earlier_life].args["by"]])
    assert worker.recover() == 0


CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from indiepay.core.clock import SystemClock
    from indiepay.db.engine import Database
    from indiepay.db.jobs.worker import Worker

    url, started = sys.argv[1], Path(sys.argv[2])

    def slow(args):
        started.write_text("running")
        time.sleep(600)

    Worker(Database(url), SystemClock(), {"k": slow}).run_once()
""")


def test_a_killed_workers_job_runs_as_soon_as_a_worker_starts_again(tmp_path: Path) -> None:
    from indiepay.db.migrate import upgrade

    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    db = Database(url)
    clock = SystemClock()
    with db.transaction() as session:
        queue.enqueue(session, "k", {"n": 1}, now=clock.now())
    started = tmp_path / "started"
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, str(started)])
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    ran: list[dict[str, Any]] = []
    worker = Worker(db, clock, {"k": ran.append}, poll_seconds=0.05)
    assert worker.run_once() == 0  # leased to the dead process for five minutes
    worker.start_in_thread()
    try:
        deadline = time.monotonic() + 10
        while not ran and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        worker.stop()
    assert ran == [{"n": 1}]
    with db.read() as session:
        job = session.query(Job).one()
    assert job.status == "done" and job.attempts == 2
    db.dispose()
