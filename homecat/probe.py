"""`homecat probe`: how well a linear classifier reads the segment labels off each layer of each embedding set.

Owns the participant-grouped outer folds (computed once per probe, so every set and layer is judged on the same
splits), the scores per (set, layer): UAR with its sd over folds, macro-F1 and chance, and per set the honest
score: on each outer fold, the layer chosen on that fold's training families alone (inner folds) or fixed in
advance (``layer``), never on the fold it is scored on; with its per-class recall and confusion counts. Tables
``probe_folds``, ``probe_results``, ``probe_fold_scores`` and ``probe_confusion`` (keyed by ``probe_id``); the
solver is probe_fit.py, the paired comparison of two sets compare.py. The catalog is closed while the
classifiers fit. Users read README.md "Did pretraining help?".

Inner folds: for outer fold k the other outer folds are the inner folds (they are family-grouped already). The
classifier for inner fold j of outer fold k is trained on every fold but j and k, the same classifier as for inner
fold k of outer fold j: one fit per pair of folds (10 for 5 folds) scores both, from per-(fold, class) moments
computed once per layer (probe_fit.FoldMoments). The fold's score at its chosen layer is the outer fit on all of
its training families, which the per-layer table needs anyway.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from homecat.catalog import Catalog, named_queries
from homecat.embed import EGEMAPS, part_files, read_layer, run_sets, stored_ids
from homecat.errors import HomecatError
from homecat.probe_fit import FoldMoments, fit
from homecat.settings import Settings

if TYPE_CHECKING:
    from homecat.compare import Paired

_QUERIES = "queries/embed.sql"
COLUMNS = [
    "set", "step", "layer", "uar", "uar_sd", "macro_f1", "chance", "n_segments", "n_participants", "n_folds",
]  # fmt: skip
# `probe --by age-band`: the out-of-fold predictions of each (set, layer) scored within each age band
BREAKDOWN_COLUMNS = ["set", "layer", "age_band", "uar", "n_segments", "n_participants", "labels"]
BREAKDOWNS = ("age-band",)
# the honest score of each set: the layer chosen per outer fold without looking at it
CHOSEN_COLUMNS = [
    "set", "layers", "selection", "uar", "uar_sd", "macro_f1", "chance", "n_segments", "n_participants", "n_folds",
]  # fmt: skip
INNER, FIXED, ONLY = "inner folds", "fixed (--layer)", "only layer"


# A two-sided sign-flip test over n folds cannot give p below 2 / 2**n: 6 folds are the fewest that reach 0.05.
MIN_FOLDS_FOR_P05 = 6


@dataclass
class ProbeRun:
    """One probe: its id, the per-(set, layer) rows, and what it was computed on."""

    probe_id: str
    rows: list[dict[str, Any]]
    kinds: dict[str, str]  # set name -> kind ('wav2vec2' or 'egemaps')
    labels: list[str]
    n_segments: int
    n_participants: int
    n_folds: int
    not_converged: int  # fits that stopped at probe_max_iter
    breakdown: list[dict[str, Any]] = field(default_factory=list)  # with by='age-band': UAR per (set, layer, band)
    # per (set, layer, outer fold): uar, macro_f1, n_test_segments, inner_uar, chosen
    fold_scores: list[dict[str, Any]] = field(default_factory=list)
    # per set: the chosen layers' scores (CHOSEN_COLUMNS), fold_uars, recall {label: r}, confusion {true: {pred: n}}
    chosen: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what the user should know about how it was computed

    def table(self) -> tuple[list[str], list[tuple]]:
        return COLUMNS, [tuple(r[c] for c in COLUMNS) for r in self.rows]

    def chosen_table(self) -> tuple[list[str], list[tuple]]:
        """Each set's honest score with its recall per class (``recall_<label>``)."""
        columns = [*CHOSEN_COLUMNS, *(f"recall_{label}" for label in self.labels)]
        rows = [
            (*(c[k] for k in CHOSEN_COLUMNS), *(c["recall"].get(label) for label in self.labels)) for c in self.chosen
        ]
        return columns, rows

    def confusion_table(self, set_name: str) -> tuple[list[str], list[tuple]]:
        """Rows: true label; columns: predicted label (out-of-fold predictions of the set's chosen layers)."""
        counts = next(c["confusion"] for c in self.chosen if c["set"] == set_name)
        return ["true \\ predicted", *self.labels], [(t, *(counts[t][p] for p in self.labels)) for t in self.labels]

    def chosen_records(self) -> tuple[list[str], list[tuple]]:
        """``chosen_table`` plus the confusion counts as flat columns ``n_<true>_as_<predicted>`` (JSON, CSV)."""
        columns, rows = self.chosen_table()
        pairs = [(t, p) for t in self.labels for p in self.labels]
        counts = [tuple(c["confusion"][t][p] for t, p in pairs) for c in self.chosen]
        return [*columns, *(f"n_{t}_as_{p}" for t, p in pairs)], [(*r, *n) for r, n in zip(rows, counts)]

    def breakdown_table(self) -> tuple[list[str], list[tuple]]:
        return BREAKDOWN_COLUMNS, [tuple(r[c] for c in BREAKDOWN_COLUMNS) for r in self.breakdown]


def _sklearn():
    try:
        from sklearn.metrics import balanced_accuracy_score, f1_score
        from sklearn.model_selection import StratifiedGroupKFold
    except ImportError:
        raise HomecatError("homecat probe needs scikit-learn: pip install 'homecat[probe]'.") from None
    return {
        "balanced_accuracy_score": balanced_accuracy_score,
        "f1_score": f1_score,
        "StratifiedGroupKFold": StratifiedGroupKFold,
    }


def probe(
    settings: Settings,
    sets: Sequence[str] = (),
    labels: Sequence[str] = (),
    folds: int | None = None,
    seed: int | None = None,
    progress: Callable[[float, float], None] | None = None,
    by: str | None = None,
    layer: int | None = None,
) -> ProbeRun:
    """Probe every layer of ``sets`` (default: every set) on ``labels`` (default: every label embedded);
    ``progress(layers done, layers)`` after each layer's folds.

    Each set's honest score takes, on each outer fold, the layer with the best mean UAR over inner folds of that
    fold's training families; ``layer`` fixes it in advance instead (and only that layer of a many-layer set is
    probed). A single-layer set (eGeMAPS) has nothing to choose.

    ``by='age-band'`` also scores each layer's out-of-fold predictions within each age band at recording
    (UAR over the labels the band holds, with its segment and participant counts).
    """
    if by is not None and by not in BREAKDOWNS:
        raise HomecatError(f"--by '{by}' is not one of {', '.join(BREAKDOWNS)}.")
    sk = _sklearn()
    p = settings.probe
    n_folds = folds if folds is not None else p.probe_folds
    seed = p.probe_seed if seed is None else seed
    if n_folds < 2:
        raise HomecatError(f"--folds must be at least 2, got {n_folds}.")
    queries = named_queries(_QUERIES)
    with Catalog.open(settings.paths) as catalog:
        columns, rows = catalog.rows(queries["embedding_sets"].sql)
        known = {r["set_name"]: r for r in (dict(zip(columns, row)) for row in rows)}
        tolerance = {"tolerance_sec": settings.segments.duplicate_tolerance_sec}
        columns, rows = catalog.rows(queries["probe_segments"].sql, tolerance)
    segments = {r[0]: dict(zip(columns, r)) for r in rows}
    if not known:
        raise HomecatError("There are no embedding sets: run 'homecat embed --model ...' first.")
    chosen = list(dict.fromkeys(sets)) or sorted(known)
    missing = [s for s in chosen if s not in known]
    if missing:
        raise HomecatError(f"There is no embedding set '{missing[0]}'; sets: {', '.join(sorted(known))}.")
    if layer is not None:
        short = [s for s in chosen if 1 < int(known[s]["n_layers"]) <= layer]
        if layer < 0 or short:
            name = short[0] if short else chosen[0]
            raise HomecatError(
                f"--layer {layer} is not a layer of the set '{name}' (layers 0 to {int(known[name]['n_layers']) - 1})."
            )
    folders = {s: Path(settings.paths.artifacts_dir) / known[s]["path"] for s in chosen}
    empty = [s for s in chosen if not part_files(folders[s])]
    if empty:
        raise HomecatError(
            f"The embedding set '{empty[0]}' has no vectors in {folders[empty[0]]} (another paths.artifacts_dir?): "
            "run 'homecat embed' again."
        )

    # The segments every chosen set holds and the catalog still has (rows removed by a re-import drop out).
    common = set(segments)
    for s in chosen:
        common &= set(stored_ids(folders[s]))
    wanted = list(dict.fromkeys(labels))
    if wanted:
        present = {segments[sid]["label"] for sid in common}
        absent = [label for label in wanted if label not in present]
        if absent:
            raise HomecatError(
                f"No segment labelled '{absent[0]}' is in every chosen set; embedded labels: {', '.join(sorted(present))}."
            )
        common = {sid for sid in common if segments[sid]["label"] in wanted}
    ids = sorted(common)
    y = np.array([segments[sid]["label"] for sid in ids])
    groups = np.array([segments[sid]["group_key"] for sid in ids])
    bands = np.array([segments[sid]["age_band"] for sid in ids])
    classes = sorted(set(y.tolist()))
    if len(classes) < 2:
        raise HomecatError(
            f"A probe needs segments of at least 2 labels in every chosen set; found {len(classes)} "
            f"({', '.join(classes) or 'none'}) in {len(ids)} segments."
        )
    n_groups = len(set(groups.tolist()))
    notes = []
    if n_groups < n_folds and folds is None and n_groups >= 2:
        # the default asks for more folds than there are families: one family per fold (leave one family out)
        notes.append(
            f"{n_groups} families, fewer than probe.probe_folds {n_folds}: one fold per family"
            + (f" (a paired test over {n_groups} folds cannot reach p < 0.05)" if n_groups < MIN_FOLDS_FOR_P05 else "")
        )
        n_folds = n_groups
    if n_groups < n_folds:
        raise HomecatError(
            f"The {len(ids)} segments come from {n_groups} participants, fewer than the {n_folds} folds: "
            f"use --folds {n_groups} or fewer (at least 2), or annotate more families."
        )
    if n_folds < 3 and layer is None and any(int(known[s]["n_layers"]) > 1 for s in chosen):
        raise HomecatError(
            f"Choosing the layer inside each of {n_folds} folds needs at least 3 (inner folds on each fold's "
            "training families): use --folds 3 or more, or fix the layer in advance with --layer N."
        )
    for label in classes:
        families = sorted(set(groups[y == label].tolist()))
        if len(families) < 2:
            raise HomecatError(
                f"The label '{label}' occurs in only one family ({families[0]}): a participant-grouped probe cannot "
                "test it; leave it out with --labels."
            )

    splitter = sk["StratifiedGroupKFold"](n_splits=n_folds, shuffle=True, random_state=seed)
    fold_of = np.empty(len(ids), dtype=np.int64)
    with warnings.catch_warnings():
        # "The least populated class in y has only N members": _check_folds says what that means, or passes
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for k, (_, test) in enumerate(splitter.split(np.zeros(len(ids)), y, groups)):
            fold_of[test] = k
    _check_folds(y, fold_of, n_folds, classes)
    # Chance is what a constant guess scores on each fold's test part (UAR averages over the classes it holds).
    chance = float(np.mean([1.0 / len(set(y[fold_of == k].tolist())) for k in range(n_folds)]))
    probe_id = hashlib.sha1(
        json.dumps(
            {
                "sets": {s: known[s]["model_sha"] for s in chosen},
                "labels": classes,
                "folds": n_folds,
                "seed": seed,
                "layer": layer,
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]

    rows_out: list[dict[str, Any]] = []
    breakdown: list[dict[str, Any]] = []
    fold_scores: list[dict[str, Any]] = []
    chosen_out: list[dict[str, Any]] = []
    not_converged = 0
    position = {sid: i for i, sid in enumerate(ids)}

    def layers_of(s: str) -> list[int]:
        n_layers = int(known[s]["n_layers"])
        return [layer] if layer is not None and n_layers > 1 else list(range(n_layers))

    total_layers = sum(len(layers_of(s)) for s in chosen)
    for s in chosen:
        probed = layers_of(s)
        selection = ONLY if len(probed) == 1 and layer is None else FIXED if layer is not None else INNER
        scores: dict[int, LayerScores] = {}
        for k in probed:
            X = read_layer(folders[s], k, position)
            scores[k] = _cross_validate(sk, X, y, fold_of, n_folds, settings, inner=selection == INNER)
            not_converged += scores[k].not_converged
            if by is not None:
                breakdown += _by_band(sk, s, k, y, scores[k].predicted, bands, groups)
            rows_out.append(
                {
                    "set": s,
                    "step": known[s]["step"],  # of the set's weights (None: not a run's model, or eGeMAPS)
                    "layer": k,
                    "uar": float(np.mean(scores[k].uar)),
                    "uar_sd": float(np.std(scores[k].uar, ddof=1)),
                    "macro_f1": float(np.mean(scores[k].macro_f1)),
                    "chance": chance,
                    "n_segments": len(ids),
                    "n_participants": n_groups,
                    "n_folds": n_folds,
                }
            )
            if progress is not None:
                progress(len(rows_out), total_layers)
        # per outer fold: the layer whose inner folds (training families only) scored best; ties: the lower layer
        picked = [
            max(probed, key=lambda k: (scores[k].inner_uar[f], -k)) if selection == INNER else probed[0]
            for f in range(n_folds)
        ]
        for k in probed:
            for f in range(n_folds):
                fold_scores.append(
                    {"set": s, "layer": k, "fold": f, "uar": scores[k].uar[f], "macro_f1": scores[k].macro_f1[f],
                     "n_test_segments": int((fold_of == f).sum()),
                     "inner_uar": scores[k].inner_uar[f] if selection == INNER else None, "chosen": picked[f] == k}
                )  # fmt: skip
        chosen_out.append(_chosen(s, selection, picked, scores, y, fold_of, classes, chance, n_groups))
    run = ProbeRun(
        probe_id,
        rows_out,
        {s: known[s]["kind"] for s in chosen},
        classes,
        len(ids),
        n_groups,
        n_folds,
        not_converged,
        breakdown,
        fold_scores,
        chosen_out,
        notes,
    )
    _store(settings, run, ids, fold_of, seed)
    return run


@dataclass
class LayerScores:
    """One layer's outer-fold scores, out-of-fold predictions and, with inner folds, each outer fold's mean inner
    UAR (computed on that fold's training families only)."""

    uar: list[float]
    macro_f1: list[float]
    predicted: np.ndarray
    inner_uar: list[float]
    not_converged: int


def _chosen(
    s: str,
    selection: str,
    picked: list[int],
    scores: dict[int, LayerScores],
    y: np.ndarray,
    fold_of: np.ndarray,
    classes: list[str],
    chance: float,
    n_groups: int,
) -> dict[str, Any]:
    """A set's honest score: each outer fold scored at its chosen layer; recall and confusion of those
    out-of-fold predictions pooled over folds."""
    n_folds = len(picked)
    uars = [scores[picked[f]].uar[f] for f in range(n_folds)]
    predicted = np.empty_like(y)
    for f in range(n_folds):
        test = fold_of == f
        predicted[test] = scores[picked[f]].predicted[test]
    confusion = {t: {p: int(((y == t) & (predicted == p)).sum()) for p in classes} for t in classes}
    return {
        "set": s,
        "layers": ",".join(str(k) for k in picked),
        "selection": selection,
        "uar": float(np.mean(uars)),
        "uar_sd": float(np.std(uars, ddof=1)),
        "macro_f1": float(np.mean([scores[picked[f]].macro_f1[f] for f in range(n_folds)])),
        "chance": chance,
        "n_segments": len(y),
        "n_participants": n_groups,
        "n_folds": n_folds,
        "fold_uars": uars,
        "recall": {t: confusion[t][t] / max(1, sum(confusion[t].values())) for t in classes},
        "confusion": confusion,
    }


STEP_COLUMNS = ["step", "set", "layers", "uar", "uar_sd", "macro_f1"]


def probe_run(
    settings: Settings,
    run_dir: str | Path,
    labels: Sequence[str] = (),
    folds: int | None = None,
    layer: int | None = None,
) -> tuple[ProbeRun, dict[str, int]]:
    """Probe every model of a training run (its start, every checkpoint; embedded by `homecat embed --run`) and
    every eGeMAPS set together, on the same folds; returns the probe and each run set's training step."""
    steps = {name: step for step, _, name in run_sets(run_dir)}
    with Catalog.open(settings.paths) as catalog:
        columns, rows = catalog.rows(named_queries(_QUERIES)["embedding_sets"].sql)
    kinds = {r["set_name"]: r["kind"] for r in (dict(zip(columns, row)) for row in rows)}
    missing = [name for name in steps if name not in kinds]
    if missing:
        raise HomecatError(
            f"The run's model for the set '{missing[0]}' is not embedded ({len(missing)} of {len(steps)} missing): "
            f"run 'homecat embed --run {run_dir} --features egemaps' first."
        )
    baselines = sorted(name for name, kind in kinds.items() if kind == EGEMAPS)
    return probe(settings, sets=[*steps, *baselines], labels=labels, folds=folds, layer=layer), steps


def chosen_by_step(run: ProbeRun, steps: dict[str, int]) -> list[dict[str, Any]]:
    """Each set's honest score (layers chosen per outer fold without looking at it): the run's sets in step
    order, then the baselines (step None); with ``recall`` per class."""
    order = sorted(run.chosen, key=lambda c: (c["set"] not in steps, steps.get(c["set"], 0), c["set"]))
    return [{"step": steps.get(c["set"]), **c} for c in order]


def compare_sets(settings: Settings, a: str, b: str, metric: str = "uar") -> Paired:
    """The paired comparison of sets ``a`` and ``b`` over the outer folds of the newest probe that holds both,
    each fold scored at its chosen layer (homecat.compare)."""
    from homecat.compare import paired_comparison

    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows = catalog.rows(named_queries(_QUERIES)["chosen_fold_scores"].sql, {"a": a, "b": b})
    records = [dict(zip(columns, r)) for r in rows]
    if not records:
        raise HomecatError(
            f"No probe holds both '{a}' and '{b}': probe them together "
            f"('homecat probe --embedding-set {a} --embedding-set {b}') so they are scored on the same folds."
        )
    scores = {name: {r["fold"]: r[metric] for r in records if r["set_name"] == name} for name in (a, b)}
    if scores[a].keys() != scores[b].keys():
        raise HomecatError(f"The probe {records[0]['probe_id']} scored '{a}' and '{b}' on different folds.")
    folds = sorted(scores[a])
    return paired_comparison([scores[a][f] for f in folds], [scores[b][f] for f in folds], metric=metric, a=a, b=b)


def _check_folds(y: np.ndarray, fold_of: np.ndarray, n_folds: int, classes: list[str]) -> None:
    """One sentence instead of a scikit-learn traceback when the grouped folds cannot test every label."""
    for k in range(n_folds):
        test = fold_of == k
        if not test.any():
            raise HomecatError(
                f"Participant-grouped fold {k + 1} of {n_folds} holds no segment (a few large families fill the "
                "others): use fewer --folds."
            )
        lacking = [label for label in classes if not (y[~test] == label).any()]
        if lacking:
            raise HomecatError(
                f"Every family with the label '{lacking[0]}' is in the test part of fold {k + 1} of {n_folds}, so "
                "that fold cannot learn it: use fewer --folds, leave the label out with --labels, or annotate it "
                "in more families."
            )


def _cross_validate(
    sk: dict, X: np.ndarray, y: np.ndarray, fold_of: np.ndarray, n_folds: int, settings: Settings, inner: bool
) -> LayerScores:
    """UAR and macro-F1 of every outer fold, every segment's out-of-fold prediction, how many fits stopped at
    max_iter and, with ``inner``, each outer fold's mean UAR over its inner folds (one fit per pair of folds,
    trained on the others). The fits run side by side on ``probe.probe_jobs`` threads (the solver's BLAS and
    scipy release the GIL), each from the layer's per-(fold, class) moments."""
    from joblib import Parallel, delayed

    p = settings.probe
    jobs = p.probe_jobs or os.cpu_count() or 1
    moments = FoldMoments(X, y, fold_of)
    masks = [fold_of == k for k in range(n_folds)]
    pairs = [(j, k) for j in range(n_folds) for k in range(j + 1, n_folds)] if inner else []

    def job(held_out: tuple[int, ...]) -> tuple[dict[int, np.ndarray], bool]:
        """Fit on every fold but ``held_out``; predictions for each held-out fold."""
        train = ~np.logical_or.reduce([masks[f] for f in held_out])
        model = fit(X[train], y[train], p.probe_c, p.probe_max_iter, p.probe_tol,
                    stats=moments.train_stats(f for f in range(n_folds) if f not in held_out))  # fmt: skip
        return {f: model.predict(X[masks[f]]) for f in held_out}, not model.converged

    # the pairs first: they outnumber the outer fits, and the longest jobs should not start last
    done = Parallel(n_jobs=min(jobs, n_folds + len(pairs)), prefer="threads")(
        delayed(job)(held_out) for held_out in [*pairs, *((k,) for k in range(n_folds))]
    )
    out_of_fold = np.empty(len(y), dtype=y.dtype)
    uars, f1s = [], []
    for k in range(n_folds):
        predicted = done[len(pairs) + k][0][k]
        out_of_fold[masks[k]] = predicted
        # Both averaged over the classes this test part holds (a label can be absent from a fold): UAR
        # and macro-F1 count the same classes, and chance is computed per fold to match.
        truth = y[masks[k]]
        present = sorted(set(truth.tolist()))
        uars.append(_uar(truth, predicted))
        f1s.append(float(sk["f1_score"](truth, predicted, labels=present, average="macro", zero_division=0)))
    inner_scores: dict[int, list[float]] = {k: [] for k in range(n_folds)}
    for (j, k), (predicted, _) in zip(pairs, done):
        # the fit without folds j and k scores inner fold j of outer fold k, and inner fold k of outer fold j
        for scored, outer in ((j, k), (k, j)):
            inner_scores[outer].append(_uar(y[masks[scored]], predicted[scored]))
    return LayerScores(
        uars,
        f1s,
        out_of_fold,
        [float(np.mean(inner_scores[k])) if inner_scores[k] else float("nan") for k in range(n_folds)],
        sum(d[1] for d in done),
    )


def _uar(truth: np.ndarray, predicted: np.ndarray) -> float:
    """scikit-learn's balanced_accuracy_score (mean recall over the classes ``truth`` holds) without its input
    checks, which cost 20 ms a call: the probe scores each layer 25 times (bench/bench_probe.py)."""
    return float(np.mean([np.mean(predicted[truth == label] == label) for label in np.unique(truth)]))


def _by_band(
    sk: dict, set_name: str, layer: int, y: np.ndarray, predicted: np.ndarray, bands: np.ndarray, groups: np.ndarray
) -> list[dict[str, Any]]:
    """UAR of the out-of-fold predictions within each age band (over the labels the band holds), with counts.

    Pooled over folds: a band may hold few segments per fold, and a family is in one fold only anyway.
    """
    rows = []
    for band in sorted(set(bands.tolist())):
        inside = bands == band
        rows.append(
            {
                "set": set_name,
                "layer": layer,
                "age_band": band,
                "uar": float(sk["balanced_accuracy_score"](y[inside], predicted[inside])),
                "n_segments": int(inside.sum()),
                "n_participants": len(set(groups[inside].tolist())),
                "labels": ",".join(sorted(set(y[inside].tolist()))),
            }
        )
    return rows


def _store(settings: Settings, run: ProbeRun, ids: list[str], fold_of: np.ndarray, seed: int) -> None:
    import pyarrow as pa

    folds_table = pa.table({"segment_id": ids, "fold": fold_of.astype(np.int32)})
    labels = ",".join(run.labels)
    with Catalog.open(settings.paths) as catalog, catalog.transaction() as con:
        catalog.run(_QUERIES, "forget_probe_folds", {"probe_id": run.probe_id})
        catalog.run(_QUERIES, "forget_probe_results", {"probe_id": run.probe_id})
        con.register("new_probe_folds", folds_table)
        catalog.run(_QUERIES, "add_probe_folds", {"probe_id": run.probe_id})
        con.unregister("new_probe_folds")
        scores = pa.Table.from_pylist(
            [{"set_name": r["set"], **{k: v for k, v in r.items() if k != "set"}} for r in run.fold_scores],
            schema=pa.schema([("set_name", pa.string()), ("layer", pa.int32()), ("fold", pa.int32()),
                              ("uar", pa.float64()), ("macro_f1", pa.float64()), ("n_test_segments", pa.int32()),
                              ("inner_uar", pa.float64()), ("chosen", pa.bool_())]),
        )  # fmt: skip
        confusion = pa.Table.from_pylist(
            [{"set_name": c["set"], "true_label": t, "predicted_label": p, "n_segments": n}
             for c in run.chosen for t, row in c["confusion"].items() for p, n in row.items()],
            schema=pa.schema([("set_name", pa.string()), ("true_label", pa.string()),
                              ("predicted_label", pa.string()), ("n_segments", pa.int32())]),
        )  # fmt: skip
        catalog.run(_QUERIES, "forget_probe_fold_scores", {"probe_id": run.probe_id})
        catalog.run(_QUERIES, "forget_probe_confusion", {"probe_id": run.probe_id})
        con.register("new_probe_fold_scores", scores)
        catalog.run(_QUERIES, "add_probe_fold_scores", {"probe_id": run.probe_id})
        con.unregister("new_probe_fold_scores")
        con.register("new_probe_confusion", confusion)
        catalog.run(_QUERIES, "add_probe_confusion", {"probe_id": run.probe_id})
        con.unregister("new_probe_confusion")
        for r in run.rows:
            catalog.run(
                _QUERIES,
                "add_probe_result",
                {
                    "probe_id": run.probe_id,
                    "set_name": r["set"],
                    "layer": r["layer"],
                    "uar": r["uar"],
                    "uar_sd": r["uar_sd"],
                    "macro_f1": r["macro_f1"],
                    "chance": r["chance"],
                    "n_segments": r["n_segments"],
                    "n_participants": r["n_participants"],
                    "n_folds": r["n_folds"],
                    "labels": labels,
                    "seed": seed,
                },
            )
