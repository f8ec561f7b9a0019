"""What the diversity term over the whole optimizer step costs: its all-reduce across processes (issue 23).

    python bench/bench_diversity.py [--rounds 2] [--steps 12]    # prints one JSON object

Two CPU processes (``accelerate launch --multi_gpu --num_processes 2``, DDP over gloo), a base-sized wav2vec2
with 2 transformer layers on 2 s crops of a demo corpus run through the real pipeline, per_gpu_batch 2,
grad_accum_steps 4. Each launch times, in the same run, every optimizer step (the trainer's batch hook) and the
time spent in ``StepDiversity.term`` (the marginal, its all-reduce and the perplexity; wrapped here, not in the
library). Launches alternate ``training.diversity_over: step`` (the all-reduce) and ``process`` (the same term
without it), so the A/B step times see the same machine load; on a shared 2-core machine the A/B ratio moves by
several percent between rounds. Time in the term with the all-reduce includes waiting there for the slower
process (a barrier per micro-batch), so a third launch times the bare all-reduce of a [2, 320] marginal
(wav2vec2-base's groups x codes) between the same two processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

BASE_2L = dict(num_hidden_layers=2, feat_extract_norm="group", do_stable_layer_norm=False)  # base sizes otherwise


def _worker(config: Path, catalog: Path, out: Path) -> None:
    """One process of a launched run: times steps and the diversity term, rank 0 writes them to ``out``."""
    from homecat.settings import load_settings
    from homecat.train import train
    from homecat.train.diversity import StepDiversity

    spent: list[float] = []
    original = StepDiversity.term

    def timed(self, mask):
        start = time.perf_counter()
        value = original(self, mask)
        spent.append(time.perf_counter() - start)
        return value

    StepDiversity.term = timed
    stamps: list[float] = []

    def hook(step, micro, x):
        if micro == 0:
            stamps.append(time.perf_counter())
        return x

    settings = load_settings(config, {"paths.catalog": catalog}).settings
    train(settings, on_batch=hook, show_progress=False)
    if os.environ.get("RANK", "0") == "0":
        steps = [b - a for a, b in zip(stamps[1:], stamps[2:])]  # the first step includes warm-up costs
        accum = settings.training.grad_accum_steps
        term = [sum(spent[i * accum : (i + 1) * accum]) for i in range(len(stamps))][1:-1]
        out.write_text(json.dumps({"step_sec": steps, "term_sec": term}))


def _latency(out: Path) -> None:
    """One process of the bare all-reduce timing: 2,000 all-reduces of a [2, 320] float32 tensor."""
    import torch
    from accelerate import PartialState

    state = PartialState(cpu=True)
    marginal = torch.rand(2, 320)
    times = []
    for i in range(2200):
        if i % 100 == 0:
            torch.distributed.barrier()
        start = time.perf_counter()
        torch.distributed.all_reduce(marginal.clone())
        times.append(time.perf_counter() - start)
    if state.is_main_process:
        times = sorted(times[200:])
        out.write_text(json.dumps({"median_sec": statistics.median(times), "p90_sec": times[int(0.9 * len(times))]}))


def _run(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", __file__, *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])


def _launch(tmp: Path, scope: str, steps: int, index: int) -> dict:
    name = f"{scope}-{index}"
    config = tmp / f"{name}.yaml"
    config.write_text(yaml.safe_dump({
        "paths": {"artifacts_dir": str(tmp / "artifacts")},
        "split": {"dev_fraction": 0.3},
        "crops": {"crop_sec": 2.0, "crops_per_epoch": 10_000, "dev_crop_count": 0},
        "training": {"base_model": None, "model_overrides": BASE_2L, "run_name": name, "max_steps": steps,
                     "per_gpu_batch": 2, "grad_accum_steps": 4, "save_steps": 10_000, "eval_steps": 10_000,
                     "warmup_steps": 1, "logging_steps": 10_000, "gradient_checkpointing": False, "num_workers": 0,
                     "report_to": "none", "diversity_over": scope},
    }))  # fmt: skip
    out = tmp / f"{name}.json"
    _run(["--worker", str(config), str(tmp / "catalog.duckdb"), str(out)])
    return json.loads(out.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="A/B launch pairs (step, process), alternating.")
    parser.add_argument("--steps", type=int, default=12, help="Optimizer steps per launch.")
    parser.add_argument("--worker", nargs=3, type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--latency", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(*args.worker)
        return
    if args.latency:
        _latency(args.latency)
        return

    from homecat.catalog import Catalog
    from homecat.demo import make_demo_corpus
    from homecat.scan import scan
    from homecat.settings import load_settings
    from homecat.split import assign_splits
    from homecat.validate import validate

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        make_demo_corpus(tmp / "raw", minutes=0.5)
        over = {"paths.catalog": tmp / "catalog.duckdb", "data.raw_audio_root": tmp / "raw", "split.dev_fraction": 0.3}
        settings = load_settings(None, over, environ={}, cwd=tmp).settings
        with Catalog.open(settings.paths.catalog) as catalog:
            scan(catalog, settings.data)
            validate(catalog, settings.validate, settings.data, workers=1)
            assign_splits(catalog, settings.split)
        runs: dict[str, list[dict]] = {"step": [], "process": []}
        for i in range(args.rounds):
            for scope in ("step", "process"):
                runs[scope].append(_launch(tmp, scope, args.steps, i))
        _run(["--latency", str(tmp / "latency.json")])
        latency = json.loads((tmp / "latency.json").read_text())

    def median(scope: str, key: str) -> float:
        return statistics.median(v for r in runs[scope] for v in r[key])

    step_sec, process_sec = median("step", "step_sec"), median("process", "step_sec")
    term_step, term_process = median("step", "term_sec"), median("process", "term_sec")
    print(json.dumps({
        "device": "cpu, 2 processes (gloo)", "model": "wav2vec2-base sizes, 2 transformer layers", "crop_sec": 2.0,
        "crops_per_step": 2 * 4 * 2, "rounds": args.rounds, "steps_per_launch": args.steps,
        "step_sec_with_allreduce": round(step_sec, 4), "step_sec_without": round(process_sec, 4),
        "ab_ratio": round(step_sec / process_sec, 4),
        "diversity_term_sec_per_step_with_allreduce": round(term_step, 5),
        "diversity_term_sec_per_step_without": round(term_process, 5),
        "allreduce_share_of_step_same_run": round((term_step - term_process) / step_sec, 5),
        "diversity_term_share_of_step_same_run": round(term_step / step_sec, 5),
        "bare_allreduce_median_sec": round(latency["median_sec"], 6), "bare_allreduce_p90_sec": round(latency["p90_sec"], 6),
        "bare_allreduces_share_of_step": round(4 * latency["median_sec"] / step_sec, 6),
    }, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
