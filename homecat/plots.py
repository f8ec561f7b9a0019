"""Every picture homecat draws, in one place: matplotlib with the file-only Agg backend, PNGs written.

The data comes from the module that owns it (reports, speech, train.report, evaluate, probe); here it is
only drawn. The CLI's ``--plot PATH`` options call these (README.md, each command's section).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from homecat.catalog import Catalog
from homecat.errors import HomecatError

if TYPE_CHECKING:
    from homecat.probe import ProbeRun
    from homecat.speech import Timeline


def pyplot() -> Any:
    """matplotlib.pyplot with the file-only Agg backend (no display needed), or one sentence if it is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise HomecatError("Plotting needs matplotlib, which homecat depends on: reinstall homecat.") from None
    return plt


def _save(plt: Any, fig: Any, path: str | Path, **savefig: Any) -> Path:
    """Write ``fig`` to ``path`` (its folder made first), then close it: pyplot keeps every open figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, **savefig)
    plt.close(fig)
    return path


def plot_silence(catalog: Catalog, path: str | Path, threshold_db: float | None = None, max_rows: int = 200) -> Path:
    """Draw the activity picture: one row per validated recording along time, active windows coloured
    by level, silent ones light grey (from ``levels``; no audio is read). Needs matplotlib."""
    plt = pyplot()
    import numpy as np
    from matplotlib.colors import ListedColormap

    recordings = catalog.con.execute(
        """SELECT r.recording_id, r.rel_path, a.window_sec, a.duration_sec,
                  coalesce(CAST(? AS DOUBLE), a.activity_threshold_dbfs)
           FROM recordings r JOIN audio_stats a USING (recording_id)
           WHERE r.status = 'ok' ORDER BY r.rel_path LIMIT ?""",
        [threshold_db, max_rows],
    ).fetchall()
    if not recordings:
        raise HomecatError("There are no validated recordings to plot: run 'homecat validate' first.")
    longest_sec = max(r[3] for r in recordings)
    hours = longest_sec >= 2 * 3600
    unit_sec, unit = (3600.0, "hours") if hours else (60.0, "minutes")
    columns = 1200  # the picture's width in cells; long recordings are pooled into these (max per cell)
    cell_sec = max(longest_sec / columns, min(r[2] for r in recordings))
    level = np.full((len(recordings), columns), np.nan)
    active = np.zeros((len(recordings), columns), dtype=bool)
    for row, (rid, _, window_sec, _, threshold) in enumerate(recordings):
        rms = catalog.con.execute(
            "SELECT rms_dbfs FROM levels WHERE recording_id = ? ORDER BY window_index", [rid]
        ).fetchnumpy()["rms_dbfs"]
        cell = np.minimum((np.arange(len(rms)) * window_sec / cell_sec).astype(int), columns - 1)
        pooled = np.full(columns, -np.inf)
        np.maximum.at(pooled, cell, rms.astype(np.float64))
        present = np.isfinite(pooled)
        level[row, present] = pooled[present]
        active[row] = present & (pooled >= threshold)
    extent = (0, columns * cell_sec / unit_sec, len(recordings) - 0.5, -0.5)
    fig, ax = plt.subplots(figsize=(12, 1.2 + 0.32 * len(recordings)), dpi=100)
    quiet = np.where(~active & ~np.isnan(level), 1.0, np.nan)
    ax.imshow(quiet, aspect="auto", interpolation="nearest", extent=extent, cmap=ListedColormap(["#dddddd"]))
    image = ax.imshow(
        np.where(active, level, np.nan),
        aspect="auto",
        interpolation="nearest",
        extent=extent,
        cmap="magma_r",
        vmin=-70,
        vmax=0,
    )
    ax.set_yticks(range(len(recordings)), [r[1] for r in recordings], fontsize=8)
    ax.set_xlim(0, longest_sec / unit_sec)
    ax.set_xlabel(f"time ({unit})")
    which = f"{threshold_db:g} dBFS for all" if threshold_db is not None else "each recording's own threshold"
    ax.set_title(f"Activity by recording: coloured windows reach the threshold ({which}); grey = silent", fontsize=10)
    fig.colorbar(image, ax=ax, label="window RMS (dBFS)", pad=0.01)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_activity(columns: list[str], rows: list[tuple], path: str | Path) -> Path:
    """Two panels per participant and split: hours (total, energy-active, speech) and the training
    crops each policy part will draw from them."""
    plt = pyplot()
    import numpy as np

    if not rows:
        raise HomecatError("There are no usable recordings to plot: run 'homecat validate' (and 'homecat vad').")
    data = [dict(zip(columns, row)) for row in rows]
    names = [f"{d['participant_id']} ({d['split'] if d['split'] != '(none)' else 'no split'})" for d in data]
    y = np.arange(len(data))
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 2.4 + 0.35 * len(data)), dpi=100, sharey=True)
    for key, colour, label, height in (
        ("hours", "#dddddd", "all", 0.8),
        ("active_hours", "#f4a259", "energy-active", 0.55),
        ("speech_hours", "#3d5a80", "speech (crop policy's source)", 0.3),
    ):
        left.barh(y, [d[key] for d in data], height=height, color=colour, label=label)
    left.set_xlabel("hours")
    left.set_yticks(y, names, fontsize=8)
    left.invert_yaxis()
    left.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3, frameon=False)
    left.set_title("Audio, energy-active and speech hours", fontsize=10)
    start = np.zeros(len(data))
    for key, colour, label in (
        ("crops_speech", "#3d5a80", "speech"),
        ("crops_speech_fallback", "#98c1d9", "speech → energy (never processed)"),
        ("crops_energy", "#f4a259", "energy"),
        ("crops_uniform", "#bbbbbb", "uniform"),
    ):
        values = np.array([100 * (d[key] or 0) for d in data])
        right.barh(y, values, left=start, color=colour, label=label)
        start += values
    right.set_xlabel("% of all training crops")
    if not start.any():  # crops come from the train split: before `homecat split` there are none to show
        right.text(0.5, 0.5, "no training crops yet:\nrun 'homecat split'", ha="center", va="center",
                   transform=right.transAxes)  # fmt: skip
    else:
        right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2, frameon=False)
    right.set_title("Training crops each policy part will draw", fontsize=10)
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_timeline(line: Timeline, path: str | Path) -> Path:
    """Window levels (activity threshold marked) above one lane of turns per source/label, over the day."""
    plt = pyplot()
    import numpy as np

    hours = line.duration_sec >= 2 * 3600
    unit_sec, unit = (3600.0, "hours") if hours else (60.0, "minutes")
    lanes = sorted(line.turns)
    fig, (top, bottom) = plt.subplots(
        2,
        1,
        figsize=(12, 3.2 + 0.35 * max(1, len(lanes))),
        dpi=100,
        sharex=True,
        gridspec_kw={"height_ratios": [3, max(1, len(lanes)) * 0.6]},
    )
    rms = np.asarray(line.rms_dbfs, np.float64)
    cells = 3000  # long days are pooled to this many points (max per cell), like `report silence --plot`
    per_cell = max(1, int(np.ceil(len(rms) / cells)))
    pooled = np.full(int(np.ceil(len(rms) / per_cell)) * per_cell, -np.inf)
    pooled[: len(rms)] = rms
    pooled = pooled.reshape(-1, per_cell).max(axis=1) if len(rms) else pooled
    t = np.arange(len(pooled)) * per_cell * line.window_sec / unit_sec
    top.fill_between(t, -100, pooled, step="post", color="#f4a259", linewidth=0)
    if line.threshold_dbfs is not None:
        top.axhline(line.threshold_dbfs, color="#333333", linestyle="--", linewidth=0.8, label="activity threshold")
        top.legend(fontsize=8, loc="upper right")
    top.set_ylim(max(-100.0, float(np.min(rms)) - 5 if len(rms) else -100.0), 0)
    top.set_ylabel("window RMS (dBFS)")
    began = f" (began {line.clock[0][3]:%Y-%m-%d %H:%M} UTC)" if line.clock else ""
    top.set_title(f"Levels, speech and annotations over the recording {line.recording_id}{began}", fontsize=10)
    colours = plt.get_cmap("tab10")
    for row, lane in enumerate(lanes):
        spans = [(s / unit_sec, (e - s) / unit_sec) for s, e in line.turns[lane]]
        bottom.broken_barh(spans, (row - 0.4, 0.8), color=colours(row % 10))
    bottom.set_yticks(range(len(lanes)), lanes, fontsize=8)
    bottom.set_ylim(len(lanes) - 0.5 if lanes else 0.5, -0.5)
    if not lanes:
        bottom.text(
            0.5,
            0.5,
            "no speech rows or segments (run 'homecat vad')",
            ha="center",
            va="center",
            transform=bottom.transAxes,
        )
        bottom.set_yticks([])
    bottom.set_xlim(0, line.duration_sec / unit_sec)
    bottom.set_xlabel(f"time ({unit})")
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_training(run_dir: str | Path, out: str | Path) -> Path:
    """Loss (train and dev), perplexity, learning rate and Gumbel temperature, grad norm: one PNG."""
    from homecat.train.report import run_settings, warning_steps
    from homecat.train.run_folder import read_metrics

    plt = pyplot()

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
    handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]  # one legend for both axes
    ax.legend(handles=handles, fontsize=8)
    ax = axes[1][1]
    ax.plot(*series(train, "grad_norm"))
    ax.set_ylabel("grad norm")
    for ax in axes[1]:
        ax.set_xlabel("optimizer step")
    warned = warning_steps(rows, run_settings(run_dir))
    for ax in axes.flat:  # a collapse warning: a red line where it first fired, a tick at every later one
        for i, step in enumerate(warned):
            ax.axvline(step, color="red", alpha=0.6 if i == 0 else 0.15, lw=1.5 if i == 0 else 0.8)
    if warned:
        axes[0][0].plot([], [], color="red", label=f"collapse warning (from step {warned[0]})")
        axes[0][0].legend()
    fig.suptitle(Path(run_dir).name)
    fig.tight_layout()
    return _save(plt, fig, out, dpi=100)


def plot_run(rows: list[dict[str, Any]], out: str | Path, title: str) -> Path:
    """Dev loss and accuracy (all frames and informative frames only) against training step: one PNG."""
    plt = pyplot()

    steps = [r["step"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(steps, [r["loss_per_masked_frame"] for r in rows], "o-")
    left.set_ylabel("dev loss per masked frame")
    right.plot(steps, [r["contrastive_accuracy"] for r in rows], "o-", label="all masked frames")
    right.plot(steps, [r["contrastive_accuracy_informative"] for r in rows], "s--", label="informative frames")
    right.set_ylabel("dev contrastive accuracy")
    right.legend()
    for ax in (left, right):
        ax.set_xlabel("optimizer step")
    fig.suptitle(title)
    fig.tight_layout()
    return _save(plt, fig, out, dpi=100)


def plot_probe_steps(run: ProbeRun, steps: dict[str, int], path: str | Path, title: str) -> Path:
    """Chosen-layer UAR (± sd over folds; layers chosen per outer fold on its training families) against training
    step, with the starting model, eGeMAPS and chance lines."""
    from homecat.embed import EGEMAPS
    from homecat.probe import chosen_by_step

    plt = pyplot()

    by_step = chosen_by_step(run, steps)
    best = [b for b in by_step if b["step"] is not None]
    fig, ax = plt.subplots(figsize=(8, 4.8), dpi=110)
    x = [b["step"] for b in best]
    ax.errorbar(x, [b["uar"] for b in best], yerr=[b["uar_sd"] for b in best], marker="o", capsize=3,
                label="run: layer chosen per fold on its training families, mean ± sd over folds")  # fmt: skip
    for b in best:
        ax.annotate(f"L{_layers_label(b['layers'])}", (b["step"], b["uar"]), textcoords="offset points",
                    xytext=(4, 6), fontsize=7)  # fmt: skip
    start = best[0]
    ax.axhline(start["uar"], color="tab:green", linestyle="-.", linewidth=1.4,
               label=f"start ({start['set']}): {start['uar']:.3f}")  # fmt: skip
    for b in by_step:
        if run.kinds.get(b["set"]) == EGEMAPS:
            ax.axhline(b["uar"], color="black", linestyle="--", linewidth=1.6, label=f"{b['set']}: {b['uar']:.3f}")
    ax.set_xlabel("training step")
    ax.set_ylabel("UAR (balanced accuracy), chosen layer")
    return _finish_probe(plt, fig, ax, run, title, path)


def _layers_label(layers: str) -> str:
    """'6,6,7,6,6' -> '6/7' (the distinct layers chosen over the folds)."""
    return "/".join(dict.fromkeys(layers.split(",")))


def plot_probe(run: ProbeRun, path: str | Path) -> Path:
    """Left: UAR by layer, one line per wav2vec2 set (band: ±1 sd over folds), each set's honest score (layer
    chosen per fold on its training families) as a marker at the right edge; eGeMAPS sets and chance as horizontal
    lines. Right: the recall of each class at the chosen layers, per set (child recall is what the field reports)."""
    import numpy as np

    from homecat.embed import EGEMAPS

    plt = pyplot()
    fig, (ax, recall_ax) = plt.subplots(1, 2, figsize=(12, 4.8), dpi=110, gridspec_kw={"width_ratios": [3, 2]})
    _plot_recall(recall_ax, run)
    by_set: dict[str, list[dict[str, Any]]] = {}
    for r in run.rows:
        by_set.setdefault(r["set"], []).append(r)
    max_layer = max(r["layer"] for r in run.rows)
    drawn = 0  # model lines so far: each gets its own marker and a smaller one, so equal lines stay visible
    for s, rows in by_set.items():
        uar = np.array([r["uar"] for r in rows])
        sd = np.array([r["uar_sd"] for r in rows])
        if run.kinds.get(s) == EGEMAPS or len(rows) == 1:
            # the handcrafted baseline: black dashes, apart from the model lines' colour cycle
            ax.axhline(uar[0], color="black", linestyle="--", linewidth=1.6, label=f"{s} (single layer): {uar[0]:.3f}")
            ax.axhspan(uar[0] - sd[0], uar[0] + sd[0], color="black", alpha=0.06)
            continue
        layers = np.array([r["layer"] for r in rows])
        line = ax.plot(
            layers,
            uar,
            marker="os^Dv<>p"[drawn % 8],
            markersize=max(3.0, 9.0 - 1.5 * drawn),
            linewidth=max(1.0, 2.4 - 0.4 * drawn),
            label=f"{s} (best {uar.max():.3f} at layer {layers[uar.argmax()]})",
        )
        drawn += 1
        ax.fill_between(layers, uar - sd, uar + sd, color=line[0].get_color(), alpha=0.15)
        honest = next(c for c in run.chosen if c["set"] == s)
        ax.errorbar([max_layer + 0.6], [honest["uar"]], yerr=[honest["uar_sd"]], marker="*", markersize=11,
                    capsize=3, color=line[0].get_color(),
                    label=f"{s}, layer chosen per fold (L{_layers_label(honest['layers'])}): {honest['uar']:.3f}")  # fmt: skip
    ax.set_xlim(-0.3, max(max_layer, 1) + 0.9)
    ax.set_xticks(range(0, max_layer + 1))
    ax.set_xlabel("layer (0 = CNN features + position embedding, input of the transformer)")
    ax.set_ylabel("UAR (balanced accuracy), mean ± sd over folds")
    return _finish_probe(plt, fig, ax, run, f"Probe {run.probe_id}", path)


def _plot_recall(ax: Any, run: ProbeRun) -> None:
    """Grouped bars: recall of each class (x) per set, out-of-fold predictions at the chosen layers."""
    import numpy as np

    width = 0.8 / max(1, len(run.chosen))
    x = np.arange(len(run.labels))
    for i, c in enumerate(run.chosen):
        ax.bar(x + (i - (len(run.chosen) - 1) / 2) * width, [c["recall"][label] for label in run.labels], width,
               label=c["set"])  # fmt: skip
    ax.set_xticks(x, run.labels)
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("recall at the chosen layers (pooled over folds)")
    ax.set_title("recall per class", fontsize=9)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, loc="best")


def _finish_probe(plt: Any, fig: Any, ax: Any, run: ProbeRun, name: str, path: str | Path) -> Path:
    """What both probe pictures end with: the chance line (last in the legend), the UAR range, a title naming
    the probe's data, the file."""
    chance = run.rows[0]["chance"]
    ax.axhline(chance, color="grey", linestyle=":", linewidth=1.4, label=f"chance: {chance:.3f}")
    ax.set_ylim(0, 1.02)  # a UAR of 1 stays visible
    ax.set_title(
        f"{name}: {', '.join(run.labels)} — {run.n_segments} segments, {run.n_participants} participants, "
        f"{run.n_folds} grouped folds",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return _save(plt, fig, path)
