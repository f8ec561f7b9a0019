"""`homecat report training --run RUN`: the logged curves of a training run, as tables (the PNG: homecat.plots)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from homecat.settings import TrainingSettings
from homecat.train.collapse import Verdict, run_verdict, warnings_for
from homecat.train.run_folder import read_metrics

TRAIN_COLUMNS = [
    "step",
    "loss",
    "contrastive_loss",
    "diversity_loss",
    "codevector_perplexity",
    "learning_rate",
    "gumbel_temperature",
    "grad_norm",
    "skipped_steps",
    "identical_negative_share",
    "perplexity_ratio",
    "contrastive_accuracy_informative",
]  # the rest of each row (mask_share, crops_per_sec, data_wait_share, …) is in logs/metrics.jsonl
DEV_COLUMNS = [
    "step",
    "dev_loss",
    "dev_contrastive_accuracy",
    "dev_contrastive_accuracy_informative",
    "dev_identical_negative_share",
    "dev_codevector_perplexity",
    "dev_perplexity_ratio",
]


def run_settings(run_dir: str | Path) -> TrainingSettings:
    """The run's own training settings (its collapse thresholds), from config.yaml; the defaults without one."""
    path = Path(run_dir) / "config.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return TrainingSettings(**((config or {}).get("training") or {}))


def verdict(run_dir: str | Path) -> Verdict:
    """learning / flat / collapsed / diverged, with the numbers behind it (homecat.train.collapse.run_verdict)."""
    return run_verdict(read_metrics(run_dir), run_settings(run_dir))


def warning_steps(rows: list[dict[str, Any]], t: TrainingSettings) -> list[int]:
    return sorted({r["step"] for r in rows if warnings_for(r, t, "dev_" if r.get("split") == "dev" else "")})


def training_tables(run_dir: str | Path, last: int = 20) -> dict[str, tuple[list[str], list[tuple]]]:
    """{"train": (columns, the last ``last`` logged rows), "dev": (columns, every dev evaluation)}."""
    rows = read_metrics(run_dir)
    train = [r for r in rows if r.get("split") != "dev"][-last:] if last > 0 else []
    dev = [r for r in rows if r.get("split") == "dev"]
    return {
        "train": (TRAIN_COLUMNS, [tuple(_show(c, r.get(c)) for c in TRAIN_COLUMNS) for r in train]),
        "dev": (DEV_COLUMNS, [tuple(r.get(c) for c in DEV_COLUMNS) for r in dev]),
    }


def _show(column: str, value: Any) -> Any:
    """Learning rates are ~1e-5: three decimals would print 0."""
    return f"{value:.3g}" if column == "learning_rate" and isinstance(value, float) else value
