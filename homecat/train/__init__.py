"""Continued self-supervised pretraining of wav2vec2 on random crops of the catalogued recordings.

    python -m homecat.train --config FILE [--catalog PATH] [--resume [CHECKPOINT]]
    accelerate launch [--cpu --num_processes N] -m homecat.train --config FILE
    homecat --config FILE train                         (one process)

One optimizer step, per process (see /work/shared/TRAINING-NOTES.md for why each piece is there):
1. fetch ``grad_accum_steps`` micro-batches of fixed-length crops (normalised per crop as the base
   model's feature extractor says), draw their span masks and negatives with transformers' own
   ``_compute_mask_indices`` / ``_sample_negative_indices`` under a seed fixed by (train_seed, epoch,
   rank, crop position), so a resumed run draws exactly what an uninterrupted one would;
2. all-reduce the number of masked frames of the whole step ONCE (one sync point per step);
3. forward/backward each micro-batch under ``accelerator.accumulate``, the summed loss scaled by
   grad_accum x world_size / total_masked: after accelerate's division by grad_accum and DDP's mean
   over processes the gradient is that of the loss per masked frame of the step;
4. clip, step (a step with a non-finite gradient is skipped and counted: the fp16 scaler does it
   itself; in fp32/bf16 we do), set the Gumbel temperature of the next update.

Run folder (``training.output_dir``)::

    config.yaml  provenance.json  trainer_state.json  index/{train,dev}.parquet
    logs/metrics.jsonl  logs/ranks.json  checkpoints/step_N/  final/
    initial/  (only with training.base_model null: the random starting weights, for `homecat embed`/`evaluate`)

Only the main process writes, except accelerate's per-process RNG files inside checkpoints.

Modules: ``model`` (loading, newly initialised weights, training setup, optimizer, Gumbel schedule),
``batches`` (DataLoader, normalisation, masks and negatives), ``loop`` (the Accelerate loop, logging),
``evaluate`` (dev evaluation from step 0, per-crop masks), ``collapse`` (collapse signals, warnings, the run's
verdict), ``plan`` (steps, warmup check, the printed plan), ``checkpoints`` (save, rotate, resume, HF-folder
hooks, a run's models),
``run_folder`` (index snapshot, provenance, metrics, trainer_state), ``report`` (``homecat report training``),
``__main__`` (the command line above). Importing this package does not import transformers or accelerate.
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
