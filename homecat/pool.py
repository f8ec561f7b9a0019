"""The process pool of validate and vad: tasks to spawned workers, results back as they finish.

One owner for the worker loop both stages share (see README.md, "homecat validate" and "homecat vad").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from multiprocessing import get_context
from typing import TypeVar

_T = TypeVar("_T")
_P = TypeVar("_P")
_R = TypeVar("_R")


def run_in_pool(work: Callable[[_T, _P], _R], tasks: list[_T], params: _P, workers: int) -> Iterator[_R]:
    """``work(task, params)`` of every task, yielded as they finish (validate's and vad's worker loop).

    ``workers <= 1`` (or one task) runs in this process (no pool, easy to test), in task order. ``work``
    must be a module-level function and tasks and params picklable. The caller stores each result as
    it comes (one transaction each), so a kill loses only the tasks in flight.
    """
    if workers <= 1 or len(tasks) <= 1:
        for task in tasks:
            yield work(task, params)
        return
    # spawn, not fork: the parent holds a DuckDB connection and threads, which fork does not copy safely.
    pool = ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=get_context("spawn"))
    pending: set[Future] = set()
    queue = iter(tasks)
    try:
        for task in queue:  # keep a few tasks per worker in flight, not the whole list
            pending.add(pool.submit(work, task, params))
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                yield future.result()
                task = next(queue, None)
                if task is not None:
                    pending.add(pool.submit(work, task, params))
    finally:
        # Ctrl-C or an error: drop queued work; files in flight are simply run again next time.
        pool.shutdown(wait=False, cancel_futures=True)
