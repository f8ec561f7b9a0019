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
    previous handlers. Outside the main thread nothing is installed (Python allows handlers only there)."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._record)
        return self

    def _record(self, signum: int, frame: Any) -> None:
        self.signal_name = signal.Signals(signum).name

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def stopped(self, step: int, checkpoint: Path) -> TrainingStopped:
        """The exception to raise once ``checkpoint`` is complete (and the launcher's file touched)."""
        marker = os.environ.get(STOPPED_FILE_ENV)
        if marker:
            Path(marker).touch()
        return TrainingStopped(
            f"Stopped on {self.signal_name or 'a signal from another process'} after step {step}: "
            f"{checkpoint} is complete; continue with --resume (exit code {EXIT_STOPPED})."
        )
