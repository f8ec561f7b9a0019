"""Time of `homecat probe` for 10,000 segments x 13 layers x 768 dimensions (wav2vec2-base sized) on this machine:
the probe with nested layer selection (each outer fold's layer chosen by inner folds of its training families,
issue 23) against the probe before it (every layer scored on the outer folds only, the best picked on them),
on the same catalog and folds, in the same process.

    python bench/bench_probe.py                                  # the full case, one JSON object
    python bench/bench_probe.py --segments 3000 --layers 4      # a smaller case on a busy machine

The probe before it is homecat/probe.py and homecat/probe_fit.py as of commit ``BASELINE`` (read with
``git show``, loaded as modules of their own). Synthetic vectors (no model runs): ~50 participants with 2
recordings each, three labels in the demo's proportions (0.55 / 0.35 / 0.10); each vector = a label direction
whose strength peaks at the middle layer + a per-participant offset (the family effect grouped folds guard
against) + noise with 64 strong shared factors (correlated dimensions, as in real hidden states). They are
written through embed's own Parquet writer (row groups of 256 segments) into a real catalog with the
``embedding_sets`` row, so ``probe()`` runs exactly as `homecat probe` does. Reports the wall time of each
``probe()`` (excluding the synthetic data), their ratio, the UAR by layer of both, the largest UAR difference by
layer, and the new probe's chosen layers and honest UAR.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from homecat.catalog import Catalog, named_queries
from homecat.embed import MANIFEST_NAME, _PartWriter
from homecat.probe import probe
from homecat.settings import load_settings

BASELINE = "847f749"  # main before issue 23's probe changes (the layer picked on the scored folds)

LABELS = ("adult", "infant", "noise")
ODDS = (0.55, 0.35, 0.10)
_FACTORS = 64


def build(tmp: Path, n_segments: int, n_participants: int, layers: int, dim: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    settings = load_settings(
        overrides={"paths.catalog": tmp / "c.duckdb", "paths.artifacts_dir": tmp / "artifacts"}, environ={}, cwd=tmp
    ).settings
    recordings = [(f"P{p:03d}", f"P{p:03d}_{r}") for p in range(n_participants) for r in range(2)]
    rec_of = rng.integers(len(recordings), size=n_segments)
    label_of = rng.choice(len(LABELS), size=n_segments, p=ODDS)
    with Catalog.open(settings.paths.catalog) as catalog:
        catalog.con.executemany(
            "INSERT INTO recordings (rel_path, path, recording_id, participant_id, size_bytes, mtime_ns, status, "
            "first_seen, last_seen, scanned_at) VALUES (?, ?, ?, ?, 0, 0, 'ok', now(), now(), now())",
            [(f"{p}/{r}.wav", f"/nowhere/{p}/{r}.wav", r, p) for p, r in recordings],
        )
        catalog.con.executemany(
            "INSERT INTO segments (segment_id, recording_id, start_sec, end_sec, label, tier, source, imported_at) "
            "VALUES (?, ?, ?, 1.0, ?, '', 'bench.csv', now())",
            [(f"s{i:06d}", recordings[rec_of[i]][1], 0.0, LABELS[label_of[i]]) for i in range(n_segments)],
        )
    folder = settings.paths.artifacts_dir / "embeddings" / "synthetic"
    folder.mkdir(parents=True)
    directions = rng.standard_normal((len(LABELS), dim)).astype(np.float32)
    mixing = (3.0 * rng.standard_normal((_FACTORS, dim)) / np.sqrt(_FACTORS)).astype(np.float32)
    family = rng.standard_normal((n_participants, dim)).astype(np.float32)
    strength = 0.02 + 0.04 * np.exp(-(((np.arange(layers) - layers / 2) / (layers / 4)) ** 2))  # peaks mid-stack
    writer = _PartWriter(folder, layers, dim, 256)
    for start in range(0, n_segments, 256):  # chunk by chunk: the data never sits in memory whole
        idx = np.arange(start, min(start + 256, n_segments))
        participants = np.array([int(recordings[rec_of[i]][0][1:]) for i in idx])
        # correlated dimensions, as in real hidden states (a few strong shared factors): an ill-conditioned
        # problem that makes lbfgs work, unlike isotropic noise
        factors = rng.standard_normal((len(idx), layers, _FACTORS)).astype(np.float32) @ mixing
        noise = 0.5 * rng.standard_normal((len(idx), layers, dim)).astype(np.float32) + factors
        vectors = (
            noise
            + strength[None, :, None] * directions[label_of[idx]][:, None, :]
            + 0.3 * family[participants][:, None, :]
        )
        for j, i in enumerate(idx):
            writer.add(f"s{i:06d}", 50, vectors[j], "")
    writer.close()
    manifest = {"set_name": "synthetic", "kind": "wav2vec2", "model": "synthetic", "model_sha": "0" * 64,
                "n_layers": layers, "dim": dim, "settings": {}}  # fmt: skip
    (folder / MANIFEST_NAME).write_text(json.dumps(manifest))
    with Catalog.open(settings.paths.catalog) as catalog:
        catalog.con.execute(
            named_queries("queries/embed.sql")["upsert_embedding_set"].sql,
            {**{k: manifest[k] for k in ("set_name", "kind", "model", "model_sha", "n_layers", "dim")},
             "settings": "{}", "segment_count": n_segments, "path": "embeddings/synthetic",
             "weights_sha256": "0" * 64, "run_name": None, "step": None},
        )  # fmt: skip
    return settings


def baseline_probe():
    """``probe()`` of homecat at ``BASELINE``: its probe.py and probe_fit.py as modules of their own."""
    import subprocess
    import sys
    import types

    root = Path(__file__).resolve().parents[1]

    def load(name: str, path: str, replace: tuple[str, str] | None = None) -> types.ModuleType:
        source = subprocess.run(["git", "-C", str(root), "show", f"{BASELINE}:{path}"], check=True,
                                capture_output=True, text=True).stdout  # fmt: skip
        if replace is not None:
            source = source.replace(*replace)
        module = types.ModuleType(name)
        sys.modules[name] = module
        exec(compile(source, f"{BASELINE}:{path}", "exec"), module.__dict__)
        return module

    load("baseline_probe_fit", "homecat/probe_fit.py")
    old = load("baseline_probe", "homecat/probe.py",
               ("from homecat.probe_fit import fit_predict", "from baseline_probe_fit import fit_predict"))  # fmt: skip
    # its rows no longer fit probe_results (issue 23 added the weights' hash and step): time the probe, not
    # the store (the new probe's timing still includes its own store, a fraction of a second)
    old._store = lambda *args, **kwargs: None
    return old.probe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--segments", type=int, default=10_000)
    parser.add_argument("--participants", type=int, default=50)
    parser.add_argument("--layers", type=int, default=13)
    parser.add_argument("--dim", type=int, default=768)
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    out: dict = {"segments": args.segments, "participants": args.participants, "layers": args.layers,
                 "dim": args.dim, "folds": args.folds, "cpu_cores": os.cpu_count(), "runs": []}  # fmt: skip
    old_probe = baseline_probe()
    import joblib  # noqa: F401  (imported before the clocks start: the first probe must not pay for them)
    import scipy.optimize  # noqa: F401
    import sklearn.metrics  # noqa: F401
    import sklearn.model_selection  # noqa: F401

    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        settings = build(Path(tmp), args.segments, args.participants, args.layers, args.dim)
        out["synthetic_data_sec"] = round(time.perf_counter() - t0, 1)
        for name, run_probe in (("before: layer picked on the scored folds", old_probe),
                                ("nested: layer chosen on each fold's training families", probe)):  # fmt: skip
            t0 = time.perf_counter()
            run = run_probe(settings, folds=args.folds)
            elapsed = time.perf_counter() - t0
            record = {
                "probe": name,
                "probe_sec": round(elapsed, 1),
                "fits_not_converged": run.not_converged,
                "uar_by_layer": [round(r["uar"], 4) for r in run.rows],
            }
            if hasattr(run, "chosen"):
                record["chosen_layers"] = run.chosen[0]["layers"]
                record["chosen_uar"] = round(run.chosen[0]["uar"], 4)
            out["runs"].append(record)
        old, new = out["runs"]
        out["time_ratio_new_over_old"] = round(new["probe_sec"] / old["probe_sec"], 2)
        out["best_layer_uar_before"] = max(old["uar_by_layer"])
        out["max_abs_uar_difference_by_layer"] = round(
            max(abs(a - b) for a, b in zip(old["uar_by_layer"], new["uar_by_layer"], strict=True)), 4
        )
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
