"""Time per optimizer step of the full training loop vs a bare forward+backward+step of the same model.

    python bench/bench_train.py               # prints one JSON object
    python bench/bench_train.py --workers 0   # DataLoader workers (training.num_workers; default: its default)

CPU only (no GPU here): a tiny model and a base-sized wav2vec2 with 2 transformer layers, on a demo
corpus run through the real pipeline (scan, validate, split, crops). The loop's step time comes from
timestamps of the trainer's batch hook (setup and final save excluded); the bare loop runs the same
model on batches drawn beforehand from the same crop dataset with the same masks. Also reports the
cost of the collapse signals (homecat.train.collapse.negative_signals) as a share of the bare step
(timed inside the same steps; the loop computes them on logged steps only), and the share of step time the loop waited
for data with the default DataLoader workers (training.num_workers), or with ``--workers N``: on a machine
with few cores, workers compete with torch's threads for the CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from homecat.catalog import Catalog
from homecat.crops import CropDataset, CropIndex
from homecat.demo import make_demo_corpus
from homecat.scan import scan
from homecat.settings import TrainingSettings, load_settings
from homecat.split import assign_splits
from homecat.train import draw_masks, load_model, read_metrics, train
from homecat.train.collapse import negative_signals
from homecat.validate import validate
from homecat.wav2vec2 import normalise_crops

TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, conv_dim=[32, 32],
            conv_stride=[5, 4], conv_kernel=[10, 8], num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2,
            codevector_dim=16, proj_codevector_dim=16, num_codevectors_per_group=8)  # fmt: skip
BASE_2L = dict(num_hidden_layers=2, feat_extract_norm="group", do_stable_layer_norm=False)  # base sizes otherwise
CASES = {"tiny_1s": (TINY, 1.0, 24), "base_2layers_2s": (BASE_2L, 2.0, 5)}


def _settings(tmp: Path, overrides: dict, crop_sec: float, steps: int, name: str, workers: int | None = None):
    cfg = tmp / f"{name}.yaml"
    cfg.write_text(yaml.safe_dump({
        "split": {"dev_fraction": 0.3},
        "crops": {"crop_sec": crop_sec, "crops_per_epoch": 10_000, "dev_crop_count": 0},
        "training": {"base_model": None, "model_overrides": overrides, "run_name": name, "max_steps": steps,
                     "per_gpu_batch": 2, "grad_accum_steps": 2, "save_steps": 10_000, "eval_steps": 10_000, "warmup_steps": 1,
                     "logging_steps": 5, "gradient_checkpointing": False,
                     **({} if workers is None else {"num_workers": workers})},
    }))  # fmt: skip
    over = {"paths.catalog": tmp / "catalog.duckdb", "paths.artifacts_dir": tmp / "artifacts",
            "data.raw_audio_root": tmp / "raw"}  # fmt: skip
    return load_settings(cfg, over, environ={}, cwd=tmp).settings


def _loop(settings) -> tuple[float, float]:
    stamps: list[float] = []

    def hook(step, micro, x):
        if micro == 0:
            stamps.append(time.perf_counter())
        return x

    run = train(settings, on_batch=hook, show_progress=False)
    # the hook fires after the step's batches are fetched: step time = gap between consecutive hooks
    step_sec = statistics.median(np.diff(stamps[1:]))
    waits = [r["data_wait_share"] for r in read_metrics(run) if r.get("data_wait_share") is not None]
    return step_sec, float(np.mean(waits[1:] or waits))


def _bare(settings, steps: int) -> tuple[float, float]:
    """Median seconds per bare optimizer step, and of the collapse signals of one step's micro-batches."""
    t = settings.training
    torch.manual_seed(0)
    model, _, _ = load_model(t, settings.data.sample_rate)  # sets diversity_loss_weight as the trainer does
    model.freeze_feature_encoder()
    model.train()
    index = CropIndex.load(settings.paths.artifacts_dir / "training" / t.run_name / "index" / "train.parquet")
    ds = CropDataset(index, settings.crops, settings.data)
    batches = []
    for s in range(steps * t.grad_accum_steps):
        x = normalise_crops(torch.stack([ds[s * 2 + i]["input_values"] for i in range(2)]), True)
        batches.append((x, *draw_masks(model, t, 2, x.shape[1], [0, s])))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=t.learning_rate)
    times, signal_times = [], []
    for s in range(steps):
        start = time.perf_counter()
        signal_sec = 0.0
        for x, mask, neg in batches[s * t.grad_accum_steps : (s + 1) * t.grad_accum_steps]:
            out = model(x, mask_time_indices=mask, sampled_negative_indices=neg)
            (out.loss / max(int(mask.sum()), 1)).backward()
            before = time.perf_counter()  # the collapse signals of this micro-batch, timed apart from the step
            negative_signals(out, mask, neg).tolist()
            signal_sec += time.perf_counter() - before
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.perf_counter() - start - signal_sec)
        signal_times.append(signal_sec)
    return statistics.median(times[1:]), statistics.median(signal_times[1:])


def main() -> None:
    from accelerate.state import AcceleratorState, GradientState

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, help="DataLoader workers of the training loop (default: the setting's).")
    workers = parser.parse_args().workers

    results: dict[str, object] = {"device": "cpu", "threads": torch.get_num_threads(),
                                  "gpu": "not measured here: no GPU lent to this machine"}  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        make_demo_corpus(tmp / "raw", minutes=0.5)
        first = _settings(tmp, TINY, 1.0, 2, "setup")
        with Catalog.open(first.paths.catalog) as catalog:
            scan(catalog, first.data)
            validate(catalog, first.validate, first.data, workers=1)
            assign_splits(catalog, first.split)
        for name, (overrides, crop_sec, steps) in CASES.items():
            settings = _settings(tmp, overrides, crop_sec, steps, name, workers)
            loop_sec, wait_share = _loop(settings)
            AcceleratorState._reset_state(True)
            GradientState._reset_state()
            bare_sec, signals_sec = _bare(settings, steps - 1)
            results[name] = {
                "crop_sec": crop_sec,
                "crops_per_step": 4,
                "workers": settings.training.num_workers,
                "loop_step_sec": round(loop_sec, 4),
                "bare_step_sec": round(bare_sec, 4),
                "loop_overhead": round(loop_sec / bare_sec - 1, 4),
                # the signals of every micro-batch of a step, against that step; the loop computes them only
                # on logged steps (every training.logging_steps, default 10)
                "collapse_signals_share_of_a_step": round(signals_sec / bare_sec, 4),
                "collapse_signals_share_at_default_logging": round(
                    signals_sec / bare_sec / TrainingSettings().logging_steps, 4
                ),
                "data_wait_share": round(wait_share, 4),
            }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
