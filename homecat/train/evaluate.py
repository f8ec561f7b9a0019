"""How the run is doing: dev evaluation (loss per masked frame, contrastive accuracy, codevector perplexity and
the collapse signals on a fixed list of dev crops with masks fixed per crop, so evaluations of a run, resumed
or not, on any number of processes, compare step to step) and the flat-loss check on the logged training rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from homecat.settings import TrainingSettings
from homecat.train.batches import crop_masks
from homecat.train.collapse import CodeCounts, negative_signals, perplexity
from homecat.wav2vec2 import normalise_crops

_EVAL_STREAM = 0xE7A1  # keeps the dev masks' seeds apart from every training stream
_COLLAPSE_WINDOW = 5  # logged rows looked at by the collapse check


@torch.no_grad()
def evaluate(
    accelerator: Any,
    model: Any,
    t: TrainingSettings,
    dataset: Any,
    specs: list,
    do_normalize: bool,
    step: int,
) -> dict[str, Any]:
    """The dev row of logs/metrics.jsonl at ``step``; each process reads its share of ``specs``, sums are reduced.

    What a dev crop contributes depends on the crop alone: its masks and negatives are drawn from (train_seed,
    its index in ``specs``), the perplexity comes from code counts summed over every crop, so any number of
    processes and any batch size give the same row for the same weights (to float tolerance).
    Every process must call it (one all-reduce).
    """
    from homecat.crops import read_crop
    from homecat.errors import HomecatError

    acc = accelerator
    rank, world = acc.process_index, acc.num_processes
    model = acc.unwrap_model(model)
    model.eval()
    codes = CodeCounts(model)
    # contrastive loss, crops read, then negative_signals: identical, negatives, informative, correct informative, correct
    sums = torch.zeros(7, dtype=torch.float64, device=acc.device)
    mine = list(range(rank, len(specs), world))
    try:
        for b in range(0, len(mine), t.per_gpu_batch):
            readable, positions = [], []
            for i in mine[b : b + t.per_gpu_batch]:
                try:
                    readable.append(read_crop(dataset, specs[i]))
                    positions.append(i)
                except HomecatError:
                    # a dev recording vanished or broke mid-run: the crop sampler logged it once; the dev figures
                    # use the crops still readable (the row's dev_crops says how many) and training goes on
                    continue
            if not readable:
                continue
            x = normalise_crops(torch.from_numpy(np.stack(readable)), do_normalize).to(acc.device)
            mask, neg = dev_masks(model, t, x.shape[1], positions)
            mask, neg = mask.to(acc.device), neg.to(acc.device)
            with acc.autocast():
                out = model(x, mask_time_indices=mask, sampled_negative_indices=neg)
            sums[0] += out.contrastive_loss.double()
            sums[1] += len(readable)
            sums[2:] += negative_signals(out, mask, neg)
    finally:
        codes.close()
        model.train()
    sums = acc.reduce(sums, reduction="sum").tolist()
    counts = acc.reduce(codes.counts.to(acc.device), reduction="sum").cpu()
    contrastive, read, identical, negatives, informative, correct_informative, correct = sums
    masked = negatives / t.num_negatives
    ppl = perplexity(counts)
    # the diversity term from the perplexity over all dev crops (the model's own uses each batch's)
    diversity = (counts.numel() - ppl) / counts.numel() if ppl is not None else 0.0
    return {
        "step": step,
        "split": "dev",
        "dev_loss": contrastive / masked + model.config.diversity_loss_weight * diversity if masked else None,
        "dev_contrastive_accuracy": correct / masked if masked else None,
        "dev_codevector_perplexity": ppl,
        "dev_identical_negative_share": identical / negatives if negatives else None,
        "dev_contrastive_accuracy_informative": correct_informative / informative if informative else None,
        "dev_crops": int(read),
    }


def dev_masks(model: Any, t: TrainingSettings, num_samples: int, positions: list[int]) -> tuple[Any, Any]:
    """Masks and negatives of the dev crops at ``positions`` in the dev list, each drawn from (train_seed, its
    position) alone and stacked: the batch a crop lands in does not change them."""
    return crop_masks(model, t, num_samples, [[t.train_seed, _EVAL_STREAM, i] for i in positions])


def collapse_reason(rows: list[dict[str, Any]], num_negatives: int, groups: int) -> str | None:
    """Why the last logged training rows look like collapse (TRAINING-NOTES), or None: the contrastive loss flat
    near chance over K negatives + 1, or the codevector perplexity near one code per group."""
    rows = rows[-_COLLAPSE_WINDOW:]
    rows = [r for r in rows if "contrastive_loss" in r and "split" not in r]
    if len(rows) < _COLLAPSE_WINDOW:
        return None
    chance = math.log(num_negatives + 1)
    losses = [r["contrastive_loss"] for r in rows]
    near_chance = all(abs(v - chance) < 0.05 * chance for v in losses) and max(losses) - min(losses) < 0.02 * chance
    low_ppl = all((r.get("codevector_perplexity") or 0) < 1.25 * groups for r in rows)
    if near_chance:
        return f"contrastive loss flat near chance log(K+1) = {chance:.2f}"
    if low_ppl:
        return f"codevector perplexity near {groups} (one code per group)"
    return None
