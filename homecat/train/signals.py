"""Stopping before a time limit: on SIGUSR1 (SLURM's ``--signal=USR1@N``) or SIGTERM the trainer finishes the
current optimizer step, writes a complete checkpoint and exits with ``EXIT_STOPPED`` (99), the code
scripts/slurm_train.sbatch requeues on. Every process records the signal here; the loop sums the flag over the
processes in the all-reduce it does anyway each step, so all ranks stop after the same step.
"""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path
from typing import Any

from homecat.errors import HomecatError

EXIT_STOPPED = 99
# Set by scripts/launch_node.sh: `accelerate launch` turns a worker's exit code into its own 1, so each worker
# that stops on a signal also touches this file and the script exits 99 itself.
STOPPED_FILE_ENV = "HOMECAT_STOPPED_FILE"
SIGNALS = (signal.SIGUSR1, signal.SIGTERM)


class TrainingStopped(HomecatError):
    """Training stopped on a signal after writing a complete checkpoint; run again with --resume."""

    exit_code = EXIT_STOPPED


class StopRequest:
    """Signal handlers that only record the signal (the loop decides when to stop); ``restore()`` puts back the
    previous handlers. Outside the main thread nothing is installed (Python allows handlers only there).

    Until ``setup_done()`` (loading data and model, which has nothing to checkpoint yet and may take long) a signal
    stops at once: the handler raises ``TrainingStopped`` (exit 99) wherever setup is.
    """

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}
        self._in_setup = True
        self._resumable = False

    def install(self, resumable: bool = False) -> StopRequest:
        """``resumable``: the run has a checkpoint to continue from (said in the sentence of a stop in setup)."""
        self._resumable = resumable
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def setup_done(self) -> None:
        self._in_setup = False

    def _record(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name
        if self._in_setup:
            self._in_setup = False  # a second signal while this one unwinds is only recorded
            _touch_stopped_file()
            again = "run again with --resume" if self._resumable else "run again"
            raise TrainingStopped(
                f"Stopped on {self.signal_name} during setup, before the first step of this start: nothing new to "
                f"save; {again} (exit code {EXIT_STOPPED})."
            )

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def stopped(self, step: int, checkpoint: Path) -> TrainingStopped:
        """The exception to raise once ``checkpoint`` is complete (and the launcher's file touched)."""
        _touch_stopped_file()
        return TrainingStopped(
            f"Stopped on {self.signal_name or 'a signal from another process'} after step {step}: "
            f"{checkpoint} is complete; continue with --resume (exit code {EXIT_STOPPED})."
        )


def _touch_stopped_file() -> None:
    marker = os.environ.get(STOPPED_FILE_ENV)
    if marker:
        Path(marker).touch()


def ignore_stop_signals(worker_id: int = 0) -> None:
    """A DataLoader worker's ``worker_init_fn``: the training process decides when to stop, so its workers ignore
    SIGTERM and SIGUSR1 (``scancel`` signals every process; a worker that died of it would end the run with
    "DataLoader worker killed by signal" and no checkpoint). They end when the training process closes them."""
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
