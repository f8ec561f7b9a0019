"""How the run is doing: dev evaluation (loss per masked frame, contrastive accuracy and codevector perplexity
on a fixed list of dev crops with fixed masks, so evaluations of a run, resumed or not, compare step to step)
and the collapse check on the logged training rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from homecat.settings import TrainingSettings
from homecat.train.batches import draw_masks, normalise_crops

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

    Every process must call it (one all-reduce).
    """
    from homecat.crops import read_crop
    from homecat.errors import HomecatError

    acc = accelerator
    rank, world = acc.process_index, acc.num_processes
    model = acc.unwrap_model(model)
    model.eval()
    sums = torch.zeros(6, dtype=torch.float64)  # loss, masked, correct, perplexity, batches, crops read
    mine = specs[rank::world]
    for b in range(0, len(mine), t.per_gpu_batch):
        batch = mine[b : b + t.per_gpu_batch]
        first = rank + world * b  # position of batch[0] in the dev list: fixes its masks
        readable = []
        for spec in batch:
            try:
                readable.append(read_crop(dataset, spec))
            except HomecatError:
                # a dev recording vanished or broke mid-run: the crop sampler logged it once; the dev figures
                # use the crops still readable (the row's dev_crops says how many) and training goes on
                continue
        if not readable:
            continue
        crops = torch.from_numpy(np.stack(readable))
        x = normalise_crops(crops, do_normalize).to(acc.device)
        mask, neg = draw_masks(model, t, len(x), x.shape[1], [t.train_seed, _EVAL_STREAM, first])
        mask, neg = mask.to(acc.device), neg.to(acc.device)
        with acc.autocast():
            out = model(x, mask_time_indices=mask, sampled_negative_indices=neg)
        sums += torch.tensor(
            [
                float(out.loss),
                float(mask.sum()),
                _correct(model, out, mask, neg),
                float(out.codevector_perplexity),
                1,
                len(readable),
            ]
        )
    model.train()
    sums = acc.reduce(sums.to(acc.device), reduction="sum").tolist()
    loss, masked, correct, ppl, batches, read = sums
    return {
        "step": step,
        "split": "dev",
        "dev_loss": loss / masked if masked else None,
        "dev_contrastive_accuracy": correct / masked if masked else None,
        "dev_codevector_perplexity": ppl / batches if batches else None,
        "dev_crops": int(read),
    }


def _correct(model: Any, out: Any, mask: torch.Tensor, neg: torch.Tensor) -> float:
    """Masked frames whose true quantized vector scores above all its negatives (as the model's loss sees them)."""
    q = out.projected_quantized_states
    b, frames, dim = q.shape
    negatives = q.reshape(-1, dim)[neg.reshape(-1)].view(b, frames, -1, dim).permute(2, 0, 1, 3)
    logits = model.compute_contrastive_logits(
        q[None], negatives, out.projected_states, model.config.contrastive_logits_temperature
    )
    neg_is_pos = (q == negatives).all(-1)
    logits[1:][neg_is_pos] = float("-inf")
    return float(((logits.argmax(0) == 0) & mask).sum())


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
