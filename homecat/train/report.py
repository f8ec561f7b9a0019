"""`homecat report training --run RUN`: the logged curves of a training run, as tables or one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from homecat.errors import HomecatError
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


def _warning_steps(rows: list[dict[str, Any]], t: TrainingSettings) -> list[int]:
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


def plot_training(run_dir: str | Path, out: str | Path) -> Path:
    """Loss (train and dev), perplexity, learning rate and Gumbel temperature, grad norm: one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_metrics(run_dir)
    train = [r for r in rows if r.get("split") != "dev"]
    dev = [r for r in rows if r.get("split") == "dev"]
    if not train:
        raise HomecatError(f"{run_dir} has no logged training steps yet.")

    def series(data: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
        pairs = [(r["step"], r[key]) for r in data if r.get(key) is not None]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    ax = axes[0][0]
    ax.plot(*series(train, "loss"), label="train loss")
    ax.plot(*series(train, "contrastive_loss"), label="train contrastive", alpha=0.6)
    if dev:
        ax.plot(*series(dev, "dev_loss"), "o-", label="dev loss")
    ax.set_ylabel("per masked frame")
    ax.legend()
    ax = axes[0][1]
    ax.plot(*series(train, "codevector_perplexity"), label="train")
    if dev:
        ax.plot(*series(dev, "dev_codevector_perplexity"), "o-", label="dev")
    ax.set_ylabel("codevector perplexity")
    ax.legend()
    ax = axes[1][0]
    ax.plot(*series(train, "learning_rate"), label="learning rate")
    ax.set_ylabel("learning rate")
    twin = ax.twinx()
    twin.plot(*series(train, "gumbel_temperature"), color="tab:orange", label="gumbel temperature")
    twin.set_ylabel("gumbel temperature")
    ax = axes[1][1]
    ax.plot(*series(train, "grad_norm"))
    ax.set_ylabel("grad norm")
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    warned = _warning_steps(rows, run_settings(run_dir))
    for ax in axes.flat:  # a collapse warning: a red line where it first fired, a tick at every later one
        for i, step in enumerate(warned):
            ax.axvline(step, color="red", alpha=0.6 if i == 0 else 0.15, lw=1.5 if i == 0 else 0.8)
    if warned:
        axes[0][0].plot([], [], color="red", label=f"collapse warning (from step {warned[0]})")
        axes[0][0].legend()
    fig.suptitle(Path(run_dir).name)
    fig.tight_layout()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
