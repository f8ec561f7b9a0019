"""Collapse you can see: the signals that tell a learning run from a degenerate one, and the verdict on a run.

wav2vec2's known failure (fairseq issue 3735, transformers 14387) is a quantizer that gives one code per
utterance: every sampled negative equals its positive, the model masks those logits to -inf, the contrastive
loss falls towards 0 and plain accuracy reads 1.0. So beside the loss we count, on tensors the forward pass
already computed:

- ``identical_negative_share``: sampled negatives whose quantized vector equals their positive's;
- ``contrastive_accuracy_informative``: accuracy over masked frames with at least one negative unlike the
  positive (a frame whose negatives are all identical is "correct" for free);
- the codevector perplexity as a ratio to its value at step 0 (from wav2vec2-base it starts in the hundreds,
  so an absolute floor misses a partial collapse).

The trainer counts the first two on the micro-batches of each logged step (the cost stays far below 2% of
the step time, bench/bench_train.py), the dev evaluation on every dev crop.
A warning fires when the ratio falls below ``training.collapse_min_perplexity_ratio`` or the share rises
above ``training.collapse_max_identical_share``; ``run_verdict`` sums a run up in one line, read from the dev
rows (train rows swing between logged steps: they count only when a signal is sustained).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from homecat.settings import TrainingSettings

_FLAT_TOLERANCE = 0.01  # dev loss within 1% of step 0: neither learning nor diverging
_DIVERGED_RISE = 0.10  # loss 10% above step 0: diverged
_NEAR = 0.8  # within 80% of a collapse limit (45% identical against 50%; perplexity 0.25 x against 0.2): "near"
_SUSTAINED = 3  # logged train rows a train signal must hold over before it counts
_keys: dict[tuple[int, str], torch.Tensor] = {}


def _key_vector(dim: int, device: torch.device) -> torch.Tensor:
    """A fixed random direction: a quantized vector's dot product with it stands for the vector (equal vectors
    give equal keys; distinct ones land within the tolerance with probability ~1e-5), so comparing negatives
    costs one scalar each."""
    cached = _keys.get((dim, str(device)))
    if cached is None:
        cached = torch.randn(dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64).float().to(device)
        _keys[(dim, str(device))] = cached
    return cached


@torch.no_grad()
def negative_signals(out: Any, mask: torch.Tensor, neg: torch.Tensor) -> torch.Tensor:
    """[identical negatives, negatives, informative frames, correct informative frames, correct frames] as one
    float64 tensor on the model's device (no sync here: the caller reads it with its other numbers).

    ``out`` is Wav2Vec2ForPreTraining's output for input with ``mask_time_indices=mask`` [B, T] and
    ``sampled_negative_indices=neg`` [B, T, K] (flat indices into B*T, each within its own crop). Cost: one
    [B, T] x D product, one [B, T, T] x D similarity (cheap next to the transformer) and [B, T, K] gathers.
    """
    q = out.projected_quantized_states.detach().float()
    c = out.projected_states.detach().float()
    b, frames, dim = q.shape
    mask = mask.to(q.device)
    neg = neg.to(q.device)
    k = neg.shape[-1]
    key = q @ _key_vector(dim, q.device)  # [B, T]
    # equal vectors can differ in the last bits when a matmul rounds rows differently: compare to a tolerance
    # far below the gap between distinct codes
    tolerance = 1e-5 * q.norm(dim=-1)
    gap = (key.reshape(-1)[neg.reshape(-1)].view(b, frames, k) - key[..., None]).abs()
    same = gap <= tolerance[..., None]  # [B, T, K]
    local = neg - (torch.arange(b, device=q.device) * frames)[:, None, None]  # index within the crop
    sim = torch.bmm(torch.nn.functional.normalize(c, dim=-1), torch.nn.functional.normalize(q, dim=-1).transpose(1, 2))
    positive = sim.diagonal(dim1=1, dim2=2)  # [B, T]: cos(c_t, q_t)
    negative = sim.gather(2, local).masked_fill(same, float("-inf")).amax(-1)  # best unlike negative
    all_same = same.all(-1)
    informative = mask & ~all_same
    correct = (positive >= negative) & informative  # ties score as the model's argmax does: the positive wins
    return torch.stack(
        [
            (same & mask[..., None]).sum(),
            mask.sum() * k,
            informative.sum(),
            correct.sum(),
            correct.sum() + (mask & all_same).sum(),
        ]
    ).double()


class CodeCounts:
    """Counts of the quantizer's argmax code per group over masked frames (eval mode), summed over batches:
    the dev perplexity is computed from these once, so it does not depend on how the crops were batched."""

    def __init__(self, model: Any):
        self.quantizer = model.quantizer
        self.counts = torch.zeros(self.quantizer.num_groups, self.quantizer.num_vars, dtype=torch.float64)
        self.handle = self.quantizer.register_forward_hook(self._hook, with_kwargs=True)

    @torch.no_grad()
    def _hook(self, module: Any, args: tuple, kwargs: dict, output: Any) -> None:
        hidden = args[0] if args else kwargs["hidden_states"]
        mask = kwargs.get("mask_time_indices")
        b, frames, _ = hidden.shape
        codes = module.weight_proj(hidden).view(b, frames, module.num_groups, -1).argmax(-1)  # [B, T, G]
        if mask is not None:
            codes = codes[mask.bool()]
        onehot = torch.nn.functional.one_hot(codes.reshape(-1, module.num_groups), module.num_vars)
        self.counts += onehot.sum(0).double().cpu()

    def close(self) -> None:
        self.handle.remove()


def perplexity(counts: torch.Tensor) -> float | None:
    """Sum over groups of exp(entropy of the code distribution): transformers' codevector perplexity."""
    total = counts.sum(-1, keepdim=True)
    if float(total.min()) <= 0:
        return None
    p = counts / total
    return float(torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum(-1)).sum())


def ratio(value: float | None, start: float | None) -> float | None:
    return value / start if value is not None and start else None


def warnings_for(row: dict[str, Any], t: TrainingSettings, prefix: str = "") -> list[str]:
    """What in one logged row (train, or dev with ``prefix="dev_"``) crosses a collapse threshold."""
    found = []
    share = row.get(f"{prefix}identical_negative_share")
    if share is not None and share > t.collapse_max_identical_share:
        found.append(f"{share:.0%} of sampled negatives identical to their positive (limit "
                     f"{t.collapse_max_identical_share:.0%})")  # fmt: skip
    r = row.get(f"{prefix}perplexity_ratio")
    if r is not None and r < t.collapse_min_perplexity_ratio:
        found.append(f"codevector perplexity at {r:.2f} x step 0 (floor {t.collapse_min_perplexity_ratio:g})")
    return found


@dataclass
class Verdict:
    label: str  # learning / learning, near collapse / flat / collapsed / diverged / unknown
    reason: str

    def line(self, name: str) -> str:
        return f"{name}: {self.label} ({self.reason})"


def _finite(value: Any) -> bool:
    return not isinstance(value, (int, float)) or isinstance(value, bool) or math.isfinite(value)


def _near_collapse(row: dict[str, Any], t: TrainingSettings, prefix: str) -> bool:
    """Within _NEAR of a limit without crossing it (45% identical against 50%, perplexity 0.25 x against 0.2)."""
    share = row.get(f"{prefix}identical_negative_share")
    r = row.get(f"{prefix}perplexity_ratio")
    return (share is not None and share >= _NEAR * t.collapse_max_identical_share) or (
        r is not None and r <= t.collapse_min_perplexity_ratio / _NEAR
    )


def _signal_numbers(row: dict[str, Any], t: TrainingSettings, prefix: str, first: dict[str, Any] | None) -> list[str]:
    numbers = []
    share = row.get(f"{prefix}identical_negative_share")
    if share is not None:
        numbers.append(f"identical negatives {share:.1%} (limit {t.collapse_max_identical_share:.0%})")
    r = row.get(f"{prefix}perplexity_ratio")
    if r is not None:
        numbers.append(f"perplexity {r:.2f} x step 0 (floor {t.collapse_min_perplexity_ratio:g})")
    accuracy = row.get(f"{prefix}contrastive_accuracy_informative")
    if accuracy is not None:
        before = (first or {}).get(f"{prefix}contrastive_accuracy_informative")
        numbers.append(
            f"informative accuracy {before:.3f} at step 0, {accuracy:.3f}"
            if before is not None and first
            else f"informative accuracy {accuracy:.3f}"
        )
    return numbers


def _sustained_train_warnings(train: list[dict[str, Any]], t: TrainingSettings) -> list[str]:
    """The train rows' collapse signals, only when every one of the last _SUSTAINED logged rows crosses a limit
    (train shares swing 0.4-13% between logged steps while dev stays put: one row says nothing)."""
    last = train[-_SUSTAINED:]
    if len(last) < _SUSTAINED or not all(warnings_for(r, t) for r in last):
        return []
    return [f"train, last {_SUSTAINED} logged steps: " + "; ".join(warnings_for(last[-1], t))]


def run_verdict(rows: list[dict[str, Any]], t: TrainingSettings) -> Verdict:
    """The run in one word, read from dev: step 0 against the latest dev row (loss, identical-negative share,
    perplexity ratio, informative accuracy), with the numbers.

    - diverged: a NaN or inf anywhere in a dev row, the last _SUSTAINED train losses non-finite, or the dev loss
      10% above step 0;
    - collapsed: the latest dev row crosses a collapse limit (dev crops, masks and negatives are fixed, so one
      dev row is not noise), or, without dev rows, the train rows do over the last _SUSTAINED logged steps;
    - learning: dev loss more than 1% below step 0; "learning, near collapse" when the latest dev row is within
      80% of a limit (e.g. 45% identical against 50%, perplexity 0.25 x step 0 against 0.2);
    - flat: neither;
    - train signals otherwise only add a warning to the reason, and only when sustained.
    Without a step-0 dev row and a later one the train loss decides (the first _SUSTAINED logged rows' mean
    against the last ones').
    """
    train = [r for r in rows if r.get("split") != "dev"]
    dev = [r for r in rows if r.get("split") == "dev"]
    if not train and not dev:
        return Verdict("unknown", "nothing logged yet")
    for r in dev:
        bad = sorted(k for k, v in r.items() if not _finite(v))
        if bad:
            return Verdict("diverged", f"non-finite {', '.join(bad)} on dev at step {r['step']}")
    tail = train[-_SUSTAINED:]
    if tail and all(r.get("loss") is None or not _finite(r["loss"]) for r in tail):
        return Verdict(
            "diverged", f"non-finite train loss over the last {len(tail)} logged steps (to step {tail[-1]['step']})"
        )
    notes = _sustained_train_warnings(train, t)
    skipped = [r["step"] for r in tail if r.get("loss") is None or not _finite(r["loss"])]
    if skipped:
        notes.append(f"non-finite train loss at step {skipped[-1]} (not sustained)")
    dev = [r for r in dev if r.get("dev_loss") is not None]
    if dev and dev[0]["step"] == 0 and len(dev) > 1:
        first, last = dev[0], dev[-1]
        numbers = [f"dev loss {first['dev_loss']:.3f} at step 0, {last['dev_loss']:.3f} at step {last['step']}"]
        numbers += _signal_numbers(last, t, "dev_", first)
        change = (last["dev_loss"] - first["dev_loss"]) / abs(first["dev_loss"]) if first["dev_loss"] else 0.0
        collapse = warnings_for(last, t, "dev_")
        near = _near_collapse(last, t, "dev_")
    else:  # no dev comparison yet: the train rows, smoothed over a few logged steps, and only sustained signals
        finite = [r for r in train if r.get("loss") is not None and _finite(r["loss"])]
        if len(finite) > 1:
            k = max(1, min(_SUSTAINED, len(finite) // 2))
            before = sum(r["loss"] for r in finite[:k]) / k
            after = sum(r["loss"] for r in finite[-k:]) / k
            numbers = [f"train loss {before:.3f} over steps {finite[0]['step']}-{finite[k - 1]['step']}, "
                       f"{after:.3f} over steps {finite[-k]['step']}-{finite[-1]['step']} (no dev comparison)"]  # fmt: skip
            change = (after - before) / abs(before) if before else 0.0
        else:
            numbers, change = ["too few rows"], 0.0
        if train:
            numbers += _signal_numbers(train[-1], t, "", None)
        collapse, notes = notes, [n for n in notes if not n.startswith("train, last")]
        near = bool(tail) and all(_near_collapse(r, t, "") for r in tail) and len(tail) == _SUSTAINED
    reason = "; ".join(numbers + notes)
    if collapse:
        return Verdict("collapsed", "; ".join(collapse) + "; " + reason)
    if change > _DIVERGED_RISE:
        return Verdict("diverged", reason)
    if change < -_FLAT_TOLERANCE:
        return Verdict("learning, near collapse" if near else "learning", reason)
    return Verdict("flat", reason + ("; near the collapse limits" if near else ""))
