"""The process pool of validate and vad: tasks to spawned workers, results back as they finish.

One owner for the worker loop both stages share (see README.md, "homecat validate" and "homecat vad").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from typing import TypeVar

from homecat.errors import HomecatError

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
    pending: dict[Future, _T] = {}
    queue = iter(tasks)
    try:
        for task in queue:  # keep a few tasks per worker in flight, not the whole list
            pending[pool.submit(work, task, params)] = task
            if len(pending) >= 2 * workers:
                break
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                task = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    raise _worker_died([task, *pending.values()], workers) from None
                yield result
                task = next(queue, None)
                if task is not None:
                    pending[pool.submit(work, task, params)] = task
    finally:
        # Ctrl-C or an error: drop queued work; files in flight are simply run again next time.
        pool.shutdown(wait=False, cancel_futures=True)


def _worker_died(in_flight: list, workers: int) -> HomecatError:
    """A worker the operating system killed (out of memory, most often) takes the pool with it: which
    recording did it is unknown, so the sentence names those in flight; everything stored so far is kept."""
    names = sorted(str(getattr(task, "rel_path", task)) for task in in_flight)
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return HomecatError(
        f"A worker process was killed (by the system, usually for lack of memory) while reading {shown}; "
        f"every result stored before is kept: rerun to go on, with fewer workers than {workers} if it happens again."
    )
