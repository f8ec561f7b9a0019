"""``training.report_to``: which experiment tracker Accelerate logs the metrics rows to, besides logs/metrics.jsonl
(always written). tensorboard writes event files into the run folder (logs/<run_name>/), offline by nature;
wandb needs the wandb package and a login, or WANDB_MODE=offline on nodes without internet (then
``wandb sync`` from a login node).
"""

from __future__ import annotations

import importlib.util
import logging

from homecat.errors import HomecatError

log = logging.getLogger("homecat.train")


def tracker_for(report_to: str) -> str | None:
    """The ``log_with`` value for Accelerator, or None; a missing package is a warning for the default
    (tensorboard: the run goes on with metrics.jsonl) and one sentence for wandb, which was asked for by name."""
    if report_to == "none":
        return None
    if report_to == "tensorboard":
        if importlib.util.find_spec("tensorboard") or importlib.util.find_spec("tensorboardX"):
            return "tensorboard"
        log.warning(
            "training.report_to is tensorboard but neither tensorboard nor tensorboardX is installed "
            "(pip install 'homecat[tensorboard]'): logging to logs/metrics.jsonl only."
        )
        return None
    if not importlib.util.find_spec("wandb"):
        raise HomecatError("training.report_to is wandb but the wandb package is not installed: pip install wandb.")
    return "wandb"
