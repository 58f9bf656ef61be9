"""Background work of the sandbox gateways: callback deliveries and refund settlements run as tasks on
the event loop that serves the gateway.

A task that raises would otherwise end in silence — the callback it carried is simply never sent, and a
platform under test waits for it until its own query comes round. Every task started here keeps a
reference (so it is not collected mid-flight) and logs its failure with the traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

logger = logging.getLogger(__name__)


def start_task(tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None], *, what: str,
               name: str | None = None) -> asyncio.Task[None]:
    """Run ``work`` on the running loop, held in ``tasks`` until done; ``what`` names it in a failure log."""
    task = asyncio.get_running_loop().create_task(work, name=name)
    tasks.add(task)

    def finished(done: asyncio.Task[None]) -> None:
        tasks.discard(done)
        if not done.cancelled() and (error := done.exception()) is not None:
            logger.error("sandbox background task failed: %s", what, exc_info=error)

    task.add_done_callback(finished)
    return task
