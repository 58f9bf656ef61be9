"""Who holds a job: worker ids that say where their worker runs, so that a claim of a dead process can be
told from a claim of a live one.

A job's claim is a lease (:data:`indiepay.db.jobs.queue.LEASE`, five minutes) because in general a worker
cannot know whether another, somewhere else, is still running its job. But a worker *can* know that about
processes of its own machine: after ``kill -9``, an OOM kill or a power cut, the restarted service finds
the jobs its previous process was running (a payment's query, a refund's sync, a merchant's webhook) and
would otherwise leave them for five minutes. So a worker id is ``machine:pid:suffix``, where *machine* is
the host name and the PID namespace (two containers may share a host name, never a namespace), and a
claim is its dead owner's when the owner is of this machine and either its process is gone or it is this
very process under a worker id no live worker here has (a container restarts with the same PID).

Anything this module cannot be sure of — another machine, a PID that is alive (perhaps reused by an
unrelated process), a worker id of another shape — is left to the lease.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Collection
from dataclasses import dataclass

from indiepay.core.ids import new_id

MAX_ID_LENGTH = 64  # jobs.locked_by
_HOST_CHARS = 32


def this_machine() -> str:
    """The host name (cut to fit the column) and this process's PID namespace; '0' where there is none to read
    (not Linux), in which case the PID alone, on one host, names a process."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        namespace = "0"
    host = socket.gethostname().replace(":", "_")[:_HOST_CHARS] or "localhost"
    return f"{host}/{namespace}"


def new_worker_id(machine: str | None = None, pid: int | None = None) -> str:
    worker_id = f"{machine or this_machine()}:{pid or os.getpid()}:{new_id('w', 8)}"
    assert len(worker_id) <= MAX_ID_LENGTH, worker_id
    return worker_id


@dataclass(frozen=True)
class Owner:
    machine: str
    pid: int


def owner_of(worker_id: str) -> Owner | None:
    """The machine and PID a worker id names, or None for an id of another shape (older, or hand-written)."""
    machine, sep, rest = worker_id.rpartition(":")[0].rpartition(":")
    if not sep or "/" not in machine or not rest.isdigit():
        return None
    return Owner(machine, int(rest))


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: it exists
        return True
    return True


def is_dead(worker_id: str, *, machine: str, live_here: Collection[str], pid: int | None = None) -> bool:
    """Is ``worker_id`` certainly a worker that no longer runs? ``live_here``: the ids of this process's
    workers; ``pid``: this process's PID (``os.getpid()`` by default)."""
    owner = owner_of(worker_id)
    if owner is None or owner.machine != machine:
        return False
    if owner.pid == (pid or os.getpid()):
        return worker_id not in live_here
    return not process_exists(owner.pid)
