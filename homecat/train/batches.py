"""What the model is fed: fixed-length crops from the DataLoader, epoch after epoch (normalised per crop by
``homecat.wav2vec2``), with span masks and negatives drawn by transformers' own samplers under a seed fixed by each crop's
position, so a resumed run draws exactly what an uninterrupted one would, whatever the micro-batch size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch

from homecat.settings import TrainingSettings
from homecat.train.signals import ignore_stop_signals


@contextlib.contextmanager
def _numpy_seed(entropy: list[int]) -> Iterator[None]:
    """transformers' mask/negative samplers use numpy's global RNG: seed it here and put it back after."""
    saved = np.random.get_state()
    np.random.seed(np.random.SeedSequence(entropy).generate_state(1)[0])
    try:
        yield
    finally:
        np.random.set_state(saved)


def draw_masks(
    model: Any, t: TrainingSettings, batch_size: int, num_samples: int, entropy: list[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(mask_time_indices bool [B, T], sampled_negative_indices long [B, T, K]) for fixed-length crops."""
    from transformers.models.wav2vec2.modeling_wav2vec2 import _compute_mask_indices, _sample_negative_indices

    frames = int(model._get_feat_extract_output_lengths(num_samples))
    with _numpy_seed(entropy):
        mask = _compute_mask_indices(
            (batch_size, frames), t.mask_time_prob, t.mask_time_length, min_masks=t.mask_time_min_masks
        )
        negatives = _sample_negative_indices((batch_size, frames), t.num_negatives, mask_time_indices=mask)
    return torch.from_numpy(mask).bool(), torch.from_numpy(negatives).long()


def crop_masks(model: Any, t: TrainingSettings, num_samples: int, entropies: list[list[int]]) -> tuple[Any, Any]:
    """Masks and negatives of a batch of crops, each drawn from its own ``entropies[i]`` alone and stacked: the
    micro-batch a crop lands in (``per_gpu_batch``) does not change what is masked in it."""
    masks, negs = [], []
    for row, entropy in enumerate(entropies):
        mask, neg = draw_masks(model, t, 1, num_samples, entropy)
        masks.append(mask)
        negs.append(neg + row * mask.shape[1])  # flat indices into the stacked batch
    return torch.cat(masks), torch.cat(negs)


def _collate(items: list[dict[str, Any]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed-length crops stack without padding; normalisation happens in the loop (one vectorised op)."""
    return torch.stack([i["input_values"] for i in items]), torch.tensor([bool(i["silent"]) for i in items])


def crop_batches(dataset: Any, t: TrainingSettings) -> Iterator[tuple[torch.Tensor, int, int]]:
    """(crops [B, L] raw float32, epoch, position of the first crop) forever, epoch after epoch.

    ``dataset`` is the run's CropDataset; it is advanced here, so its checkpointed state says where to resume.
    """
    from torch.utils.data import DataLoader

    while True:
        loader = DataLoader(
            dataset,
            batch_size=t.per_gpu_batch,
            sampler=dataset.sampler(),
            num_workers=t.num_workers,
            drop_last=True,
            collate_fn=_collate,
            # its own generator: creating the iterator must not consume the global torch RNG (exact resume)
            generator=torch.Generator().manual_seed(t.train_seed),
            persistent_workers=False,
            worker_init_fn=ignore_stop_signals,  # the training process decides when to stop
        )
        for crops, silent in loader:
            epoch, position = dataset.epoch, dataset.position
            dataset.advance(len(crops))
            if silent.any() and not silent.all():  # crops marked silent (crops.on_silent) are left out
                crops = crops[~silent]
            yield crops, epoch, position
        dataset.set_epoch(dataset.epoch + 1)
