"""The diversity term over the whole optimizer step, not one micro-batch (TRAINING-NOTES, issue 23).

transformers computes the codevector perplexity, and from it the diversity loss, over the masked frames of one
forward pass: two 8 s crops, ~390 frames, where fairseq uses a GPU batch (~2,000). With few frames the
marginal code distribution is narrow, so the same weights log perplexity 104 with one crop per micro-batch and
167 with sixteen, and the weight 0.1 pushes towards spreading codes within very little audio. Here the term
sees the step.

The estimator (``training.diversity_over: step``). For micro-batch m of a step, let S_m be this process's sum
over its masked frames of the quantizer's softmax probabilities per group ([G, V], the "soft" distribution
transformers also uses) and N_m the masked frames of micro-batch m summed over processes. The running
marginal of the step is

    P_m = (sum over j < m of allreduce(S_j) + allreduce(S_m) - S_m.detach() + S_m) / (N_1 + ... + N_m)

with every all-reduced sum detached except this process's own S_m. The term added to micro-batch m's
(summed) loss is ``weight x (N_1 + ... + N_m) x (GV - perplexity(P_m)) / GV``. Why:

- its gradient with respect to S_m is ``-weight / GV x d perplexity / dP at P_m``: exactly the gradient the
  step's diversity term ``weight x M x (GV - perplexity(P)) / GV`` (M masked frames in the step, P the step's
  marginal) sends to S_m, except that d perplexity / dP is read at the marginal of the frames seen so far in
  the step instead of all of them. For the last micro-batch, and with grad_accum_steps 1, it is exact; with
  one process and one micro-batch it is transformers' own term to float tolerance.
- across processes the marginal is all-reduced, and the gradient of that all-reduce for this process's share
  is the identity: every process holds the same term, so summing their output gradients (what
  ``torch.distributed.nn.all_reduce``'s backward does) would count it once per process; adding back the local
  S_m with its graph gives each process the right share, and DDP sums the shares as it does the contrastive
  loss's.
- an exact gradient for every micro-batch would need the whole step's marginal before the first backward: a
  second forward pass of each micro-batch, or the graphs of all of them in memory (no accumulation at all).

The logged ``codevector_perplexity`` and ``diversity_loss`` are exact: the perplexity of the step's marginal
over all its masked frames (every micro-batch, every process), so for the same weights they no longer depend on
``per_gpu_batch`` (tests/test_train.py). Cost: one all-reduce of G x V floats per micro-batch (640 for
wav2vec2-base; 1.1 ms over gloo on CPU), which is also a barrier: processes whose micro-batches take unequal
time wait for each other at every micro-batch rather than once per step (bench/bench_diversity.py: +3.8% step
time on a heavily loaded 2-core machine; balanced GPUs wait far less). ``process`` drops the all-reduce
(fairseq's scope: a GPU's batch); ``micro_batch`` is transformers' own term (the ablation).
"""

from __future__ import annotations

from typing import Any

import torch


def soft_perplexity(marginal: torch.Tensor) -> torch.Tensor:
    """Sum over groups of exp(entropy) of a [G, V] marginal (transformers' _compute_perplexity), with its graph."""
    return torch.exp(-torch.xlogy(marginal, marginal).sum(-1)).sum()


class StepDiversity:
    """Per optimizer step: ``begin(local, global)`` with the masked frames of each micro-batch, ``term(mask)``
    after each micro-batch's forward pass (returns the diversity term to add to its summed contrastive loss),
    ``finish()`` for the logged numbers. Reads the quantizer's logits with a forward hook on ``weight_proj``
    (only in training mode with gradients on: dev evaluation runs under no_grad in eval mode)."""

    def __init__(self, model: Any, accelerator: Any, weight: float, scope: str):
        quantizer = model.quantizer
        self.groups, self.vars = quantizer.num_groups, quantizer.num_vars
        self.accelerator, self.weight, self.scope = accelerator, weight, scope
        self.shared = scope == "step" and accelerator.num_processes > 1
        self._logits: torch.Tensor | None = None
        self.handle = quantizer.weight_proj.register_forward_hook(self._hook)

    def _hook(self, module: Any, args: tuple, output: torch.Tensor) -> None:
        if module.training and torch.is_grad_enabled():
            self._logits = output

    def begin(self, local_counts: list[float], global_counts: list[float]) -> None:
        """Masked frames of each micro-batch of the step: on this process, and summed over processes."""
        self.counts = global_counts if self.scope == "step" else local_counts
        self.micro = 0
        self.seen = 0.0
        self.earlier = torch.zeros(self.groups, self.vars, dtype=torch.float32, device=self.accelerator.device)
        self.micro_diversity = 0.0  # micro_batch scope: sum of N_m x D_m (the logged value)

    def term(self, mask: torch.Tensor) -> torch.Tensor:
        logits, self._logits = self._logits, None
        if logits is None:
            raise RuntimeError("StepDiversity.term() called without a training forward pass of the model")
        b, frames = mask.shape
        probs = torch.softmax(logits.float().view(b, frames, self.groups, self.vars), dim=-1)
        local = probs[mask.bool()].sum(0)  # [G, V]: this process's masked frames, with the graph
        count = self.counts[self.micro]
        self.micro += 1
        size = self.groups * self.vars
        if self.scope == "micro_batch":
            own = soft_perplexity(local / max(count, 1.0))
            self.earlier += local.detach()
            self.seen += count
            self.micro_diversity += count * float((size - own.detach()) / size)
            return self.weight * count * (size - own) / size
        shared = local.detach()
        if self.shared:
            shared = self.accelerator.reduce(shared, reduction="sum")
        self.seen += count
        marginal = (self.earlier + shared - local.detach() + local) / max(self.seen, 1.0)
        self.earlier += shared
        return self.weight * self.seen * (size - soft_perplexity(marginal)) / size

    def finish(self) -> tuple[float, float, float]:
        """(perplexity of the step's marginal, diversity summed over its masked frames, masked frames) in the
        scope the marginal covers (all processes with ``step``, this process otherwise)."""
        size = self.groups * self.vars
        if self.seen <= 0:
            return float("nan"), 0.0, 0.0
        ppl = float(soft_perplexity(self.earlier / self.seen))
        diversity = self.micro_diversity if self.scope == "micro_batch" else self.seen * (size - ppl) / size
        return ppl, diversity, self.seen

    def close(self) -> None:
        self.handle.remove()
