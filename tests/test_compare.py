"""The paired comparison of two feature sets over the same folds (homecat/compare.py), against p values and
intervals worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from homecat import compare
from homecat.compare import min_p_value, paired_comparison
from homecat.errors import HomecatError


def test_identical_sets_are_not_distinguishable():
    scores = [0.61, 0.58, 0.70, 0.66, 0.52]
    result = paired_comparison(scores, list(scores), a="run", b="base")
    assert result.p_value == 1.0
    assert result.mean_diff == 0.0
    assert result.ci95 == (0.0, 0.0)
    assert result.fold_diffs == (0.0,) * 5
    assert result.verdict == "not distinguishable"


def test_three_folds_by_hand():
    # d = (1, 2, 3): the 8 sign patterns sum to ±6, ±4, ±2, 0, 0; |sum| >= 6 twice -> p = 2/8
    result = paired_comparison([1.0, 2.0, 3.0], [0.0, 0.0, 0.0], metric="macro_f1", a="x", b="y")
    assert result.p_value == pytest.approx(0.25)
    assert result.mean_diff == pytest.approx(2.0)
    # sd 1, t(0.975, 2) = 4.302653: 2 ± 4.302653 / sqrt(3)
    half = 4.302652729911275 / math.sqrt(3)
    assert result.ci95 == pytest.approx((2 - half, 2 + half))
    assert result.verdict == "not distinguishable"
    assert (result.metric, result.a, result.b) == ("macro_f1", "x", "y")


def test_four_folds_with_mixed_signs_by_hand():
    # d = (1, -2, 3, 0.5), sum 2.5: ±1±2±3 gives 6, 4, 2, 0, 0, -2, -4, -6; adding ±0.5, |sum| >= 2.5 for
    # 2 + 2 + 1 + 0 + 0 + 1 + 2 + 2 = 10 of 16 patterns
    result = paired_comparison([1.0, -2.0, 3.0, 0.5], [0, 0, 0, 0])
    assert result.p_value == pytest.approx(10 / 16)
    assert result.verdict == "not distinguishable"


def test_five_folds_cannot_reach_five_percent():
    # every fold better: p = 2 / 2**5 = 0.0625, the floor of 5 folds, so not "better"
    result = paired_comparison([0.70, 0.72, 0.68, 0.75, 0.71], [0.60, 0.61, 0.59, 0.62, 0.60], a="run", b="base")
    assert result.p_value == pytest.approx(0.0625) == min_p_value(5)
    assert result.verdict == "not distinguishable"
    assert "the smallest p 5 folds allow" in result.text()


def test_six_folds_all_one_sign_are_better_or_worse():
    a = [0.70, 0.72, 0.68, 0.75, 0.71, 0.69]
    b = [0.60, 0.61, 0.59, 0.62, 0.60, 0.58]
    better = paired_comparison(a, b, a="run", b="base")
    assert better.p_value == pytest.approx(2 / 64)
    assert better.ci95[0] > 0
    assert better.verdict == "better"
    worse = paired_comparison(b, a, a="base", b="run")
    assert worse.p_value == pytest.approx(2 / 64)
    assert worse.ci95[1] < 0
    assert worse.verdict == "worse"
    assert worse.mean_diff == pytest.approx(-better.mean_diff)


def test_text_is_one_line_with_the_numbers():
    result = paired_comparison([0.70, 0.72, 0.68, 0.75, 0.71, 0.69], [0.60, 0.61, 0.59, 0.62, 0.60, 0.58],
                               a="run-final", b="egemaps")  # fmt: skip
    line = result.text()
    assert "\n" not in line
    assert line.startswith("uar: run-final vs egemaps +0.108 (95% CI +")
    assert "over 6 folds" in line and "p = 0.031" in line and line.endswith(": better")


def test_many_folds_use_a_seeded_monte_carlo_close_to_the_exact_p(monkeypatch):
    rng = np.random.default_rng(3)
    diffs = rng.normal(0.01, 0.03, size=21)
    exact_folds = compare.EXACT_FOLDS
    monkeypatch.setattr(compare, "EXACT_FOLDS", 21)
    exact = paired_comparison(diffs, np.zeros(21)).p_value
    monkeypatch.setattr(compare, "EXACT_FOLDS", exact_folds)
    sampled = paired_comparison(diffs, np.zeros(21)).p_value
    assert sampled == paired_comparison(diffs, np.zeros(21)).p_value  # seeded: the same every call
    # Monte Carlo sd of p with 100,000 patterns is at most 0.0016
    assert sampled == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize(
    ("a", "b", "words"),
    [([0.5, 0.6], [0.5], "one score per fold"), ([0.5], [0.4], "at least 2 folds"),
     ([0.5, float("nan")], [0.4, 0.4], "NaN")],
)  # fmt: skip
def test_scores_that_cannot_be_paired_are_one_sentence(a, b, words):
    with pytest.raises(HomecatError, match=words):
        paired_comparison(a, b)
