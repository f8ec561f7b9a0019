"""Paired comparison of two feature sets scored on the same outer folds: is A better than B, worse, or not
distinguishable from it?

Each fold gives one difference d_k = a_k - b_k (the same test families for both sets, so the fold's own
difficulty cancels). The test is a two-sided sign-flip permutation test over folds: under "no difference"
each d_k is as likely to be +|d_k| as -|d_k|, so p is the share of the 2**n sign patterns whose mean
difference is at least as far from 0 as the observed one. It assumes nothing about the shape of the
differences and is exact for the fold counts the probe uses (enumerated up to ``EXACT_FOLDS`` folds; above
that a seeded Monte Carlo sample of ``MONTE_CARLO_PATTERNS`` patterns, p = (hits + 1) / (patterns + 1)).

Its smallest possible p is 2 / 2**n: with 5 folds 0.0625, so 5 folds can never say "better" or "worse" at
the 5% level; 6 folds can (0.031). ``min_p_value`` says what a fold count allows and the text rendering
names it when the observed p is that floor.

The 95% interval of the mean difference is Student's t over the fold differences:
mean ± t(0.975, n-1) · sd / √n (folds treated as independent; they share training families, so the interval
is, if anything, too narrow, which is why the verdict also needs the permutation test). "better" / "worse"
only when p < 0.05 and the interval excludes 0; otherwise "not distinguishable".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from homecat.errors import HomecatError

ALPHA = 0.05
EXACT_FOLDS = 20  # 2**20 ≈ 1M sign patterns, enumerated in chunks: well under a second
MONTE_CARLO_PATTERNS = 100_000
MONTE_CARLO_SEED = 0
_CHUNK_BITS = 16  # sign patterns per enumeration chunk: 2**16 x n floats


@dataclass(frozen=True)
class Paired:
    """The paired comparison of set ``a`` with set ``b`` on one metric over the same folds (a relative to b)."""

    metric: str
    a: str
    b: str
    fold_diffs: tuple[float, ...]  # a - b per fold, in fold order
    mean_diff: float
    ci95: tuple[float, float]  # Student t interval of the mean difference
    p_value: float  # two-sided sign-flip permutation test over folds
    verdict: str  # "better" | "not distinguishable" | "worse"

    def text(self) -> str:
        """One line with the numbers, e.g. ``uar: run-final vs base +0.031 (95% CI +0.004 to +0.058 over 10
        folds), sign-flip p = 0.021: better``."""
        n = len(self.fold_diffs)
        floor = min_p_value(n)
        p_note = f" (the smallest p {n} folds allow)" if math.isclose(self.p_value, floor) and floor >= ALPHA else ""
        low, high = self.ci95
        return (
            f"{self.metric}: {self.a} vs {self.b} {self.mean_diff:+.3f} (95% CI {low:+.3f} to {high:+.3f} over {n} "
            f"folds), sign-flip p = {self.p_value:.3f}{p_note}: {self.verdict}"
        )


def min_p_value(n_folds: int) -> float:
    """The smallest two-sided sign-flip p that ``n_folds`` differences can give (all of one sign): 2 / 2**n."""
    return min(1.0, 2.0 / 2**n_folds)


def paired_comparison(
    scores_a: Sequence[float], scores_b: Sequence[float], *, metric: str = "uar", a: str = "A", b: str = "B"
) -> Paired:
    """Compare ``scores_a`` with ``scores_b``, one score per outer fold in the same fold order."""
    x = np.asarray(scores_a, dtype=np.float64)
    y = np.asarray(scores_b, dtype=np.float64)
    if x.ndim != 1 or x.shape != y.shape:
        raise HomecatError(
            f"A paired comparison needs one score per fold for both sets; got {x.size} for {a} and {y.size} for {b}."
        )
    if len(x) < 2:
        raise HomecatError(f"A paired comparison needs at least 2 folds; {a} and {b} have {len(x)}.")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise HomecatError(f"The fold scores of {a} or {b} hold NaN or infinity; they cannot be compared.")
    diffs = x - y
    mean = float(diffs.mean())
    p = _sign_flip_p(diffs)
    ci = _t_interval(diffs)
    if p < ALPHA and (ci[0] > 0 or ci[1] < 0):
        verdict = "better" if mean > 0 else "worse"
    else:
        verdict = "not distinguishable"
    return Paired(metric, a, b, tuple(float(d) for d in diffs), mean, ci, p, verdict)


def _t_interval(diffs: np.ndarray) -> tuple[float, float]:
    from scipy.stats import t

    n = len(diffs)
    mean = float(diffs.mean())
    half = float(t.ppf(1 - ALPHA / 2, n - 1)) * float(diffs.std(ddof=1)) / math.sqrt(n)
    return mean - half, mean + half


def _sign_flip_p(diffs: np.ndarray) -> float:
    """Share of sign patterns whose |sum| reaches the observed |sum| (sums: the same order as means)."""
    n = len(diffs)
    observed = abs(float(diffs.sum()))
    # equal up to rounding counts as reaching it (identical inputs: every pattern ties, p = 1)
    threshold = observed - 1e-9 * max(1.0, float(np.abs(diffs).sum()))
    if n <= EXACT_FOLDS:
        hits = 0
        total = 2**n
        bits = np.arange(n)
        for start in range(0, total, 2**_CHUNK_BITS):
            patterns = np.arange(start, min(total, start + 2**_CHUNK_BITS), dtype=np.int64)
            signs = 1.0 - 2.0 * ((patterns[:, None] >> bits) & 1)
            hits += int((np.abs(signs @ diffs) >= threshold).sum())
        return hits / total
    rng = np.random.default_rng(MONTE_CARLO_SEED)
    hits = 0
    left = MONTE_CARLO_PATTERNS
    while left:
        size = min(left, 2**_CHUNK_BITS)
        signs = rng.choice((-1.0, 1.0), size=(size, n))
        hits += int((np.abs(signs @ diffs) >= threshold).sum())
        left -= size
    return (hits + 1) / (MONTE_CARLO_PATTERNS + 1)
