"""The plan of a run, printed at its start: optimizer steps, warmup, audio per update, passes over the train
audio, and (after a few steps) the estimated time. Also the check that refuses a warmup as long as the run.

With ``training.max_steps`` null a run makes ``training.num_train_epochs`` passes over the train audio: steps =
passes x train seconds / (crop seconds x crops per update). So the packaged defaults train for as long as the
corpus is big, and a corpus too small for the warmup is refused rather than spent warming up.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass
from pathlib import Path

from homecat.errors import HomecatError
from homecat.settings import TrainingSettings

ETA_AFTER_STEPS = 5  # steps timed before the estimate is printed (the first ones include warm-up costs)
_MAX_WARMUP_SHARE = 0.5  # warmup longer than half the run leaves no run to speak of


class WarmupTooLong(HomecatError):
    """training.warmup_steps is not well below the run's optimizer steps."""


@dataclass(frozen=True)
class Plan:
    steps: int
    warmup: int
    crops_per_update: int
    crop_sec: float
    train_sec: float

    @property
    def hours_per_update(self) -> float:
        return self.crops_per_update * self.crop_sec / 3600

    @property
    def passes(self) -> float:
        """Passes over the train audio the run's crops add up to."""
        return self.steps * self.crops_per_update * self.crop_sec / self.train_sec if self.train_sec else 0.0

    def describe(self) -> str:
        return (
            f"plan: {self.steps} optimizer steps ({self.warmup} warmup), {self.crops_per_update} crops = "
            f"{self.hours_per_update * 60:.2f} min of audio per update, {self.passes:.2f} passes over "
            f"{self.train_sec / 3600:.2f} h of train audio"
        )

    def estimate(self, steps_done: int, elapsed_sec: float) -> str:
        per_step = elapsed_sec / max(steps_done, 1)
        left = per_step * max(self.steps - steps_done, 0)
        return (
            f"plan: {per_step:.2f} s per step over the first {steps_done} steps: about {_duration(left)} "
            f"for the remaining {self.steps - steps_done} (dev evaluations and checkpoints not included)"
        )


def check_warmup(warmup: int, steps: int, derived: bool = False) -> None:
    """Refuse a warmup that is not well below the run's steps (at most half), in one sentence."""
    if warmup > _MAX_WARMUP_SHARE * steps:
        source = "training.num_train_epochs passes over the train audio" if derived else "training.max_steps"
        raise WarmupTooLong(
            f"training.warmup_steps ({warmup}) is not well below the run's {steps} optimizer steps (from {source}); "
            f"keep it at most half of them: lower training.warmup_steps or run more steps."
        )


def make_plan(t: TrainingSettings, crop_sec: float, world: int, train_sec: float) -> Plan:
    """The run's plan; raises WarmupTooLong."""
    crops_per_update = t.per_gpu_batch * t.grad_accum_steps * world
    if t.max_steps:
        steps = t.max_steps
    else:
        steps = max(1, math.ceil(t.num_train_epochs * train_sec / crop_sec / crops_per_update))
    check_warmup(t.warmup_steps, steps, derived=not t.max_steps)
    return Plan(steps, t.warmup_steps, crops_per_update, crop_sec, train_sec)


def unwrite_fresh_run(output_dir: Path) -> None:
    """Remove what the start of a fresh run wrote before its plan was refused: the index snapshot, and the logs
    folder and run folder when empty (a fresh run has no checkpoints: resume_point made sure)."""
    shutil.rmtree(output_dir / "index", ignore_errors=True)
    for folder in (output_dir / "logs", output_dir):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def _duration(sec: float) -> str:
    if sec < 120:
        return f"{sec:.0f} s"
    if sec < 7200:
        return f"{sec / 60:.0f} min"
    return f"{sec / 3600:.1f} h"
