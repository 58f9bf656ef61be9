"""Starting racers together: threads released by one barrier, their exceptions collected."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(threads: int, work: Callable[[int], None]) -> list[BaseException]:
    """Run ``work(n)`` for ``n`` in ``range(threads)`` on as many threads, all released at once; returns the
    exceptions they raised (an empty list when every racer finished)."""
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def runner(n: int) -> None:
        start.wait()
        try:
            work(n)
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=runner, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return errors
