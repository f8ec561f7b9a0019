"""The run folder outside checkpoints: where it is, the crop-index snapshot, config.yaml and provenance.json,
logs/metrics.jsonl, and the trainer_state.json summary the push command reads.

    config.yaml  provenance.json  trainer_state.json  index/{train,dev}.parquet
    logs/metrics.jsonl  logs/ranks.json  checkpoints/step_N/  final/

Only the main process writes here.
"""

from __future__ import annotations

import json
import logging
import math
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from homecat import __version__
from homecat.errors import HomecatError
from homecat.settings import Settings

log = logging.getLogger("homecat.train")  # one logger name for the whole trainer


def default_output_dir(settings: Settings) -> Path:
    t = settings.training
    return t.output_dir or settings.paths.artifacts_dir / "training" / t.run_name


def snapshot_indexes(
    settings: Settings, output_dir: Path, checkpoint: Path | None, accelerator: Any
) -> tuple[Any, Any]:
    """Train and dev crop indexes: a fresh snapshot from the catalog, or the run's snapshot on resume."""
    from homecat.catalog import Catalog
    from homecat.crop_snapshot import build_crop_index, write_snapshot
    from homecat.crops import CropIndex

    snap = output_dir / "index"
    if checkpoint is not None:
        if not (snap / "train.parquet").is_file():
            raise HomecatError(f"{snap / 'train.parquet'} is missing: the run cannot resume without its snapshot.")
        return CropIndex.load(snap / "train.parquet"), CropIndex.load(snap / "dev.parquet")
    crop_sec = settings.crops.crop_sec
    speech = {"speech_source": settings.crops.speech_source, "speech_labels": settings.crops.speech_labels}
    if accelerator.is_main_process:
        # The only catalog connection of the run: opened, queried, closed before any DataLoader exists.
        with Catalog.open(settings.paths, read_only=True) as catalog:
            train = build_crop_index(catalog, ("train",), crop_sec, **speech)
            dev = build_crop_index(catalog, ("dev",), crop_sec, **speech)
        write_snapshot(train, snap / "train.parquet")
        write_snapshot(dev, snap / "dev.parquet")
    accelerator.wait_for_everyone()
    return CropIndex.load(snap / "train.parquet"), CropIndex.load(snap / "dev.parquet")


def git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _versions() -> dict[str, str]:
    import accelerate
    import transformers

    return {
        "homecat": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "accelerate": accelerate.__version__,
        "numpy": np.__version__,
    }


def write_provenance(
    settings: Settings,
    output_dir: Path,
    checkpoint: Path | None,
    world: int,
    precision: str,
    train_index: Any,
    dev_index: Any,
) -> None:
    """config.yaml (the resolved settings; a resume warns about changed training settings) and provenance.json
    (versions, commit, data summary; a resume appends to ``resumed_from``)."""
    config = settings.to_config_dict()
    if checkpoint is not None and (output_dir / "config.yaml").is_file():
        before = yaml.safe_load((output_dir / "config.yaml").read_text(encoding="utf-8")) or {}
        changed = [k for k, v in config.get("training", {}).items() if (before.get("training") or {}).get(k, v) != v]
        if changed:
            log.warning("Resuming with training settings changed since the run began: %s", ", ".join(changed))
    (output_dir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    provenance_path = output_dir / "provenance.json"
    provenance = json.loads(provenance_path.read_text()) if provenance_path.is_file() else {}
    provenance.setdefault("started_at", time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    provenance.setdefault("catalog", str(Path(settings.paths.catalog).resolve()))
    provenance.update(versions=_versions(), git_commit=git_commit(), world_size=world)
    provenance.update(mixed_precision=precision, train=train_index.summary(), dev=dev_index.summary())
    if checkpoint is not None:
        provenance.setdefault("resumed_from", []).append(checkpoint.name)
    provenance_path.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")


def _base_model_name(base_model: str | None) -> str | None:
    """What trainer_state records: a Hub id as is, a local folder by its name only (never a path)."""
    if base_model is None:
        return None
    return Path(base_model).name if Path(base_model).exists() else base_model


def trainer_state(
    settings: Settings,
    progress: Any,
    max_steps: int,
    train_index: Any,
    dev_index: Any,
    world: int,
    precision: str,
) -> dict[str, Any]:
    """The run summary the push command reads: numbers and names only, no paths or participant ids."""
    p, t = progress, settings.training

    def part(index: Any) -> tuple[float, int, int]:
        return round(index.total_sec / 3600, 4), len(index), len(set(index.participant_id.tolist()))

    (th, tr, tp), (dh, dr, dp) = part(train_index), part(dev_index)
    if torch.cuda.is_available():
        hardware = f"{world} x {torch.cuda.get_device_name()}"
    else:
        hardware = f"{world} x CPU ({platform.machine()})"
    return {
        "global_step": p.global_step,
        "max_steps": max_steps,
        "train": {
            "loss": p.last_train.get("loss"),
            "codevector_perplexity": p.last_train.get("codevector_perplexity"),
        },
        "dev": {"loss": p.last_dev.get("loss"), "codevector_perplexity": p.last_dev.get("codevector_perplexity")},
        "data": {
            "train_hours": th,
            "dev_hours": dh,
            "train_recordings": tr,
            "dev_recordings": dr,
            "train_participants": tp,
            "dev_participants": dp,
        },
        "crop_sec": settings.crops.crop_sec,
        "base_model": _base_model_name(t.base_model),
        "effective_batch_crops": t.per_gpu_batch * t.grad_accum_steps * world,
        "hardware": hardware,
        "mixed_precision": precision,
        "homecat_version": __version__,
        "git_commit": git_commit(),
    }


# --------------------------------------------------------------------------- logs/metrics.jsonl


def read_metrics(run_dir: str | Path) -> list[dict[str, Any]]:
    """Rows of logs/metrics.jsonl (training rows, and dev rows with ``split: dev``)."""
    path = Path(run_dir) / "logs" / "metrics.jsonl"
    if not path.is_file():
        raise HomecatError(f"{path} does not exist: is {run_dir} a training run folder?")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def append_metrics(output_dir: Path, row: dict[str, Any]) -> None:
    """One row more; JSON has no NaN/inf, so such values are written as null."""
    row = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in row.items()}
    with open(output_dir / "logs" / "metrics.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


def trim_metrics(output_dir: Path, step: int) -> None:
    """On resume, drop rows logged after the checkpoint's step (they will be logged again)."""
    path = output_dir / "logs" / "metrics.jsonl"
    if path.is_file():
        keep = [r for r in read_metrics(output_dir) if r.get("step", 0) <= step]
        partial = path.with_name(path.name + ".partial")  # a kill mid-write must not lose the history
        partial.write_text("".join(json.dumps(r) + "\n" for r in keep), encoding="utf-8")
        os.replace(partial, path)
