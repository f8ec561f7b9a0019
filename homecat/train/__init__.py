"""Continued self-supervised pretraining of wav2vec2 on random crops of the catalogued recordings.

    python -m homecat.train --config FILE [--catalog PATH] [--resume [CHECKPOINT]]
    accelerate launch [--cpu --num_processes N] -m homecat.train --config FILE
    homecat --config FILE train                         (one process)

Modules: ``model`` (loading, training setup, optimizer, Gumbel schedule), ``batches`` (DataLoader,
masks and negatives; per-crop normalisation is ``homecat.wav2vec2``), ``loop`` (the Accelerate loop),
``diversity`` (the diversity term over the optimizer step), ``evaluate`` (dev evaluation), ``collapse``
(collapse signals, verdict), ``plan`` (steps, warmup, the default plan and its warnings),
``bounds`` (settings checked before anything is written), ``checkpoints`` (save, rotate, resume),
``run_folder`` (snapshot, provenance, metrics), ``report`` (``homecat report training``), ``signals``
(stop before a time limit), ``trackers``.
Users read README.md "Continued pretraining" (one optimizer step, the run folder, resuming).
Importing this package does not import transformers or accelerate.
"""

from homecat.train.batches import draw_masks
from homecat.train.checkpoints import latest_checkpoint
from homecat.train.loop import BatchHook, NonFiniteLoss, Progress, Trainer, train
from homecat.train.model import gumbel_temperature, load_model
from homecat.train.run_folder import default_output_dir, read_metrics

__all__ = [
    "BatchHook",
    "NonFiniteLoss",
    "Progress",
    "Trainer",
    "default_output_dir",
    "draw_masks",
    "gumbel_temperature",
    "latest_checkpoint",
    "load_model",
    "read_metrics",
    "train",
]
