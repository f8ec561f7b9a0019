"""The plan of a run, printed at its start: optimizer steps, warmup, audio per update, passes over the usable
train audio, why that many steps, a warning when the plan is shorter or warms up longer than the recipes, and
(after a few steps) the estimated time. Also the check that refuses a warmup as long as the run.

With ``training.max_steps`` null the plan aims at a continued-pretraining run: ``training.target_steps``
(20,000) optimizer updates, fewer when ``training.max_passes`` passes over the usable (active) train audio come
first: steps = min(target_steps, max_passes x usable seconds / (crop seconds x crops per update)). Published
continued-pretraining runs use 20-50k updates; one pass over 300 h at ~8 min of audio per update is ~2k, too
few to move a pretrained model (TRAINING-NOTES). ``training.warmup_steps`` null warms up for 6% of the steps
(fairseq's base recipe: 8%, 32k of 400k updates).
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
DEFAULT_WARMUP_SHARE = 0.06  # warmup_steps null: within the 5-8% that continued-pretraining recipes use
SHORT_PLAN_STEPS = 10_000  # fewer updates: a warning (recipes: 20-50k)
LONG_WARMUP_SHARE = 0.10  # a longer warmup: a warning (recipes: 5-8%)
_RECIPES = (
    "continued-pretraining runs use 20-50k updates with 5-8% warmup "
    "(fairseq's wav2vec2 base recipe: 400k updates from scratch, 8% warmup)"
)


class WarmupTooLong(HomecatError):
    """training.warmup_steps is not well below the run's optimizer steps."""


@dataclass(frozen=True)
class Plan:
    steps: int
    warmup: int
    crops_per_update: int
    crop_sec: float
    train_sec: float  # usable (active) seconds of train audio: what passes are counted over
    total_sec: float = 0.0  # all train audio, silence included (shown beside it)
    why: str = ""  # where the steps come from

    @property
    def hours_per_update(self) -> float:
        return self.crops_per_update * self.crop_sec / 3600

    @property
    def passes(self) -> float:
        """Passes over the usable train audio the run's crops add up to."""
        return self.steps * self.crops_per_update * self.crop_sec / self.train_sec if self.train_sec else 0.0

    @property
    def warmup_share(self) -> float:
        return self.warmup / self.steps if self.steps else 0.0

    def describe(self) -> str:
        total = f" (of {self.total_sec / 3600:.2f} h in all)" if self.total_sec > self.train_sec else ""
        return (
            f"plan: {self.steps} optimizer steps ({self.warmup} warmup), {self.crops_per_update} crops = "
            f"{self.hours_per_update * 60:.2f} min of audio per update, {self.passes:.2f} passes over "
            f"{self.train_sec / 3600:.2f} h of usable train audio{total}; warmup {self.warmup_share:.0%}"
            + (f"; {self.why}" if self.why else "")
        )

    def warnings(self) -> list[str]:
        """One line per way the plan falls short of the recipes (printed at the start, the run goes on)."""
        found = []
        if self.steps < SHORT_PLAN_STEPS:
            found.append(
                f"plan warning: {self.steps} updates is short for continued pretraining ({_RECIPES}); a short run "
                "tends to show no gain in a probe (a false negative): raise training.max_steps (or, with it null, "
                "training.max_passes), or add train audio."
            )
        if self.warmup_share > LONG_WARMUP_SHARE:
            found.append(
                f"plan warning: the warmup is {self.warmup_share:.0%} of the run ({self.warmup} of {self.steps} "
                f"steps; {_RECIPES}): lower training.warmup_steps (null: {DEFAULT_WARMUP_SHARE:.0%})."
            )
        return found

    def estimate(self, steps_done: int, elapsed_sec: float) -> str:
        per_step = elapsed_sec / max(steps_done, 1)
        left = per_step * max(self.steps - steps_done, 0)
        return (
            f"plan: {per_step:.2f} s per step over the first {steps_done} steps: about {_duration(left)} "
            f"for the remaining {self.steps - steps_done} (dev evaluations and checkpoints not included)"
        )


def warmup_for(t: TrainingSettings, steps: int) -> int:
    """training.warmup_steps, or (null) DEFAULT_WARMUP_SHARE of the run's steps."""
    return t.warmup_steps if t.warmup_steps is not None else round(DEFAULT_WARMUP_SHARE * steps)


def check_warmup(warmup: int, steps: int, derived: bool = False) -> None:
    """Refuse a warmup that is not well below the run's steps (at most half), in one sentence."""
    if warmup > _MAX_WARMUP_SHARE * steps:
        source = (
            "the plan: training.target_steps within training.max_passes passes over the usable train audio"
            if derived
            else "training.max_steps"
        )
        raise WarmupTooLong(
            f"training.warmup_steps ({warmup}) is not well below the run's {steps} optimizer steps (from {source}); "
            f"keep it at most half of them: lower training.warmup_steps or run more steps."
        )


def make_plan(t: TrainingSettings, crop_sec: float, world: int, train_sec: float, total_sec: float = 0.0) -> Plan:
    """The run's plan over ``train_sec`` usable seconds of train audio; raises WarmupTooLong."""
    crops_per_update = t.per_gpu_batch * t.grad_accum_steps * world
    if t.max_steps:
        steps, why = t.max_steps, "steps from training.max_steps"
    else:
        by_passes = max(1, math.floor(t.max_passes * train_sec / crop_sec / crops_per_update))
        steps = min(t.target_steps, by_passes)
        if steps == t.target_steps:
            why = (
                f"training.max_steps null: the continued-pretraining target, training.target_steps "
                f"{t.target_steps} (within training.max_passes {t.max_passes:g})"
            )
        else:
            why = (
                f"training.max_steps null: training.max_passes {t.max_passes:g} passes over the usable train "
                f"audio come before training.target_steps {t.target_steps}"
            )
    warmup = warmup_for(t, steps)
    check_warmup(warmup, steps, derived=not t.max_steps)
    return Plan(steps, warmup, crops_per_update, crop_sec, train_sec, total_sec, why)


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
