"""The worker pool validate and vad share: a worker the system kills is one sentence, not a traceback."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass

import pytest

from homecat.errors import HomecatError
from homecat.pool import run_in_pool


@dataclass(frozen=True)
class _Task:
    rel_path: str


def _work(task: _Task, kill: str) -> str:
    if task.rel_path == kill:  # as the kernel's OOM killer does: no exception, the process is gone
        os.kill(os.getpid(), signal.SIGKILL)
    return task.rel_path


def test_a_killed_worker_names_the_recordings_in_flight_and_keeps_what_came_before():
    tasks = [_Task(f"P1/day{i}.wav") for i in range(3)]
    done = []
    with pytest.raises(HomecatError) as caught:
        for result in run_in_pool(_work, tasks, "P1/day1.wav", workers=2):
            done.append(result)
    message = str(caught.value)
    assert message.startswith("A worker process was killed (by the system, usually for lack of memory) while reading ")
    assert "P1/day1.wav" in message and "with fewer workers than 2" in message
    assert set(done) <= {"P1/day0.wav", "P1/day2.wav"}  # what finished before was handed over
