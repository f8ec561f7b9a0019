"""`homecat probe`: how well a linear classifier reads the segment labels off each layer of each embedding set.

Owns the participant-grouped folds (computed once per probe, so every set and layer is judged on the same
splits), the scores per (set, layer): UAR with its sd over folds, macro-F1 and chance, and the tables
``probe_folds`` and ``probe_results`` (keyed by ``probe_id``); the solver is probe_fit.py. The catalog is
closed while the classifiers fit. Users read README.md "Did pretraining help?".
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from homecat.catalog import Catalog, named_queries
from homecat.embed import EGEMAPS, part_files, read_layer, run_sets, stored_ids
from homecat.errors import HomecatError
from homecat.probe_fit import fit_predict
from homecat.settings import Settings

_QUERIES = "queries/embed.sql"
COLUMNS = [
    "set", "step", "layer", "uar", "uar_sd", "macro_f1", "chance", "n_segments", "n_participants", "n_folds",
]  # fmt: skip
# `probe --by age-band`: the out-of-fold predictions of each (set, layer) scored within each age band
BREAKDOWN_COLUMNS = ["set", "layer", "age_band", "uar", "n_segments", "n_participants", "labels"]
BREAKDOWNS = ("age-band",)


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

    def table(self) -> tuple[list[str], list[tuple]]:
        return COLUMNS, [tuple(r[c] for c in COLUMNS) for r in self.rows]

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
) -> ProbeRun:
    """Probe every layer of ``sets`` (default: every set) on ``labels`` (default: every label embedded);
    ``progress(layers done, layers)`` after each layer's folds.

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
    if n_groups < n_folds:
        raise HomecatError(
            f"The {len(ids)} segments come from {n_groups} participants, fewer than the {n_folds} folds: "
            f"use --folds {n_groups} or fewer (at least 2), or annotate more families."
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
            {"sets": {s: known[s]["model_sha"] for s in chosen}, "labels": classes, "folds": n_folds, "seed": seed},
            sort_keys=True,
        ).encode()
    ).hexdigest()[:12]

    rows_out: list[dict[str, Any]] = []
    breakdown: list[dict[str, Any]] = []
    not_converged = 0
    position = {sid: i for i, sid in enumerate(ids)}
    total_layers = sum(int(known[s]["n_layers"]) for s in chosen)
    for s in chosen:
        for layer in range(int(known[s]["n_layers"])):
            X = read_layer(folders[s], layer, position)
            uars, f1s, stalled, predicted = _cross_validate(sk, X, y, fold_of, n_folds, settings)
            not_converged += stalled
            if by is not None:
                breakdown += _by_band(sk, s, layer, y, predicted, bands, groups)
            rows_out.append(
                {
                    "set": s,
                    "step": known[s]["step"],  # of the set's weights (None: not a run's model, or eGeMAPS)
                    "layer": layer,
                    "uar": float(np.mean(uars)),
                    "uar_sd": float(np.std(uars, ddof=1)),
                    "macro_f1": float(np.mean(f1s)),
                    "chance": chance,
                    "n_segments": len(ids),
                    "n_participants": n_groups,
                    "n_folds": n_folds,
                }
            )
            if progress is not None:
                progress(len(rows_out), total_layers)
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
    )
    _store(settings, run, ids, fold_of, seed)
    return run


STEP_COLUMNS = ["step", "set", "best_layer", "uar", "uar_sd", "macro_f1"]


def probe_run(
    settings: Settings, run_dir: str | Path, labels: Sequence[str] = (), folds: int | None = None
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
    return probe(settings, sets=[*steps, *baselines], labels=labels, folds=folds), steps


def best_by_step(run: ProbeRun, steps: dict[str, int]) -> list[dict[str, Any]]:
    """The best layer of each set (by mean UAR over folds): the run's sets in step order, then the baselines
    (step None)."""
    best: dict[str, dict[str, Any]] = {}
    for r in run.rows:
        if r["set"] not in best or r["uar"] > best[r["set"]]["uar"]:
            best[r["set"]] = r
    order = sorted(best, key=lambda s: (s not in steps, steps.get(s, 0), s))
    return [
        {"step": steps.get(s), "set": s, "best_layer": best[s]["layer"], "uar": best[s]["uar"],
         "uar_sd": best[s]["uar_sd"], "macro_f1": best[s]["macro_f1"]}
        for s in order
    ]  # fmt: skip


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
    sk: dict, X: np.ndarray, y: np.ndarray, fold_of: np.ndarray, n_folds: int, settings: Settings
) -> tuple[list[float], list[float], int, np.ndarray]:
    """UAR and macro-F1 of every fold, how many fits stopped at max_iter, and every segment's out-of-fold
    prediction. The folds' fits run side by side on ``probe.probe_jobs`` threads (the solver's BLAS and
    scipy release the GIL)."""
    from joblib import Parallel, delayed

    p = settings.probe
    jobs = min(n_folds, p.probe_jobs or os.cpu_count() or 1)
    out_of_fold = np.empty(len(y), dtype=y.dtype)

    def fold(k: int) -> tuple[float, float, bool]:
        test = fold_of == k
        predicted, converged = fit_predict(X[~test], y[~test], X[test], p.probe_c, p.probe_max_iter, p.probe_tol)
        out_of_fold[test] = predicted  # the folds' test parts are disjoint: threads write different rows
        # Both averaged over the classes this test part holds (a label can be absent from a fold): UAR
        # and macro-F1 count the same classes, and chance is computed per fold to match.
        present = sorted(set(y[test].tolist()))
        uar = float(sk["balanced_accuracy_score"](y[test], predicted))
        f1 = float(sk["f1_score"](y[test], predicted, labels=present, average="macro", zero_division=0))
        return uar, f1, not converged

    done = Parallel(n_jobs=jobs, prefer="threads")(delayed(fold)(k) for k in range(n_folds))
    return [d[0] for d in done], [d[1] for d in done], sum(d[2] for d in done), out_of_fold


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
