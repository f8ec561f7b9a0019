"""Commands that judge representations: embed (segment vectors) and probe (layer-wise linear probes)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    FormatOpt,
    TableFormat,
    app,
    deprecated,
    print_rows,
    progress_bar,
    state,
    stderr,
)
from homecat.errors import HomecatError
from homecat.settings import Settings


class Features(str, Enum):
    egemaps = "egemaps"


@app.command()
def embed(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="A model folder (a run's final/, checkpoints/step_N/) or Hub id; repeatable."),
    ] = None,
    run: Annotated[
        Path | None, typer.Option(help="A training run folder: its starting model and every checkpoint, each once.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Name of the embedding set (default: from the model name, never a path).")
    ] = None,
    features: Annotated[
        list[Features] | None, typer.Option("--features", help="Also the handcrafted baseline: egemaps (opensmile).")
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="Embed only segments with this label (repeatable).")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option(min=1, help="Windows per forward pass (default embed.embed_batch_size).")
    ] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda or cuda:N (default embed.embed_device).")] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace a set computed with other weights or settings.")
    ] = False,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """One vector per imported segment and layer (mean over frames), stored as an embedding set.

    Reads only each segment; a rerun computes only segments new since. Sets live in
    artifacts/embeddings/<set>/ (Parquet) and the catalog table embedding_sets.

    Example: homecat embed --model facebook/wav2vec2-base --model artifacts/training/run1/final --features egemaps
    Over a run: homecat embed --run artifacts/training/run1 --features egemaps
    """
    from homecat.embed import embed as run_embed
    from homecat.embed import run_sets

    overrides = {"embed.embed_batch_size": batch_size, "embed.embed_device": device}
    settings = state(ctx).settings(**overrides).settings
    _check_labels(settings, label or ())
    # a run's models once each, after those named with --model (a model named twice is the user's to see)
    models = list(model or ())
    models += dict.fromkeys(m for _, m, _ in (run_sets(run) if run is not None else ()) if m not in models)
    with progress_bar("embedding segments", unit="segments", settings=settings) as progress:
        summaries = run_embed(
            settings,
            models=models,
            features=[f.value for f in features or ()],
            name=name,
            labels=label or (),
            overwrite=overwrite,
            progress=progress,
        )
    rows = [s.row() for s in summaries]
    print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title="embedding sets")
    for code, count in (
        ("segment_too_short", sum(s.too_short for s in summaries)),
        ("segment_unreadable", sum(s.unreadable for s in summaries)),
    ):
        if count:
            stderr.print(f"note: {count} segments were not embedded: 'homecat report findings --code {code}'")


def _check_labels(settings: Settings, labels: list[str] | tuple[str, ...]) -> None:
    """An unknown label is an error naming the imported ones (the segments report lists them)."""
    from homecat.reports import run_report

    if not labels:
        return
    tolerance_sec = settings.segments.duplicate_tolerance_sec
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, "segments", {"tolerance_sec": tolerance_sec})
    known = sorted({row[columns.index("label")] for row in rows})
    unknown = [x for x in labels if x not in known]
    if known and unknown:  # no segments at all: the library says how to import them
        raise typer.BadParameter(
            f"no segment is labelled '{unknown[0]}'; the labels are {', '.join(known)}.", param_hint="'--label'"
        )


@app.command()
def probe(
    ctx: typer.Context,
    embedding_set: Annotated[
        list[str] | None,
        typer.Option("--embedding-set", help="Embedding set to probe (repeatable; default: every set)."),
    ] = None,
    label: Annotated[
        list[str] | None, typer.Option("--label", help="A label to classify (repeatable; default: every label).")
    ] = None,
    set_name: Annotated[list[str] | None, typer.Option("--set", hidden=True, help="Old --embedding-set.")] = None,
    labels: Annotated[str | None, typer.Option(hidden=True, help="Old comma-separated --label.")] = None,
    folds: Annotated[
        int | None, typer.Option(min=2, help="Participant-grouped folds (default probe.probe_folds).")
    ] = None,
    layer: Annotated[
        int | None,
        typer.Option(
            min=0,
            help="Score every fold at this layer, fixed in advance (default: chosen per fold by "
            "inner folds of its training families).",
        ),
    ] = None,
    compare: Annotated[
        tuple[str, str] | None,
        typer.Option(
            help="Compare two probed sets fold by fold (A B): paired difference, 95% interval, "
            "sign-flip p, better / not distinguishable / worse. Probes nothing."
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(help="Also draw UAR by layer (eGeMAPS and chance lines) and recall per class into this PNG."),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(help="A training run embedded with 'embed --run': its models and eGeMAPS; --plot by step."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(help="Also score each layer within groups: age-band (the child's age at recording)."),
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Layer-wise linear probes of the embedding sets under participant-grouped cross-validation: UAR, macro-F1.

    Each set's score takes, on each outer fold, the layer chosen on that fold's training families (inner folds),
    or --layer; never the fold it is scored on. Tables: UAR by layer, each set's score with its recall per class,
    and its confusion matrix (--format json/csv: one row per set, recall_<label> and n_<true>_as_<predicted>).
    With --by age-band: UAR per age band at recording too, with its segment and participant counts.

    Example: homecat probe --label adult --label infant --label noise --folds 5 --plot artifacts/probe.png
    Over a run: homecat probe --run artifacts/training/run1 --label adult --label infant --plot run1-probe.png
    Two sets: homecat probe --compare run1 egemaps
    """
    from homecat.plots import plot_probe, plot_probe_steps
    from homecat.probe import STEP_COLUMNS, chosen_by_step, compare_sets, probe_run
    from homecat.probe import probe as run_probe

    settings = state(ctx).settings().settings
    if compare is not None:
        print_comparison([compare_sets(settings, *compare, metric=m) for m in ("uar", "macro_f1")], fmt)
        return
    if set_name:  # --set is a ChildProject annotation set in the importers
        deprecated("probe --set", "--embedding-set")
    if labels is not None:  # lists are repeated options everywhere else
        deprecated("probe --labels a,b", "--label a --label b")
    wanted = [*(label or ()), *(x.strip() for x in (labels or "").split(",") if x.strip())]
    sets = [*(embedding_set or ()), *(set_name or ())]
    if run is not None and by is not None:
        raise HomecatError(
            "--by scores embedding sets (--embedding-set); with --run, probe the run first, "
            "then its sets with --embedding-set and --by."
        )
    if run is not None:
        result, steps = probe_run(settings, run, labels=wanted, folds=folds, layer=layer)
        by_step = chosen_by_step(result, steps)
        columns = [*STEP_COLUMNS, *(f"recall_{x}" for x in result.labels)]
        print_rows(columns, [(*(b[c] for c in STEP_COLUMNS), *(b["recall"][x] for x in result.labels))
                             for b in by_step], fmt,
                   title=f"{run.name} by training step: layer chosen per fold on its training families")  # fmt: skip
        if plot is not None:
            typer.echo(f"Wrote {plot_probe_steps(result, steps, plot, run.name)}", err=True)
        return
    with progress_bar("probing layers", unit="layers", settings=settings) as progress:
        result = run_probe(settings, sets=sets, labels=wanted, folds=folds, progress=progress, by=by, layer=layer)
    about = (
        f"{', '.join(result.labels)}; {result.n_segments} segments, {result.n_participants} participants, "
        f"{result.n_folds} folds (UAR = balanced accuracy)"
    )
    if fmt is not TableFormat.table:  # a program asked: one array, nothing else
        print_rows(*(result.breakdown_table() if by is not None else result.chosen_records()), fmt)
    else:
        print_rows(*result.table(), fmt,
                   title=f"probe {result.probe_id}: {about}; by layer (the best of these is picked on the scored folds)")  # fmt: skip
        print_rows(*result.chosen_table(), fmt,
                   title="each set at the layer chosen per fold on its training families (layers in fold order)")  # fmt: skip
        for chosen in result.chosen:
            print_rows(*result.confusion_table(chosen["set"]), fmt,
                       title=f"{chosen['set']}: confusion matrix of the chosen layers (out-of-fold, all folds)")  # fmt: skip
        if by is not None:
            print_rows(
                *result.breakdown_table(), fmt, title=f"UAR by {by} (out-of-fold predictions, pooled over folds)"
            )
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if result.not_converged:
        stderr.print(f"note: {result.not_converged} fits stopped at probe.probe_max_iter before converging")
    if plot is not None:
        typer.echo(f"Wrote {plot_probe(result, plot)}", err=True)


def print_comparison(comparisons: list, fmt: TableFormat) -> None:
    """Paired comparisons (homecat.compare.Paired): one line each, or one record each for a program."""
    if fmt is TableFormat.table:
        for c in comparisons:
            typer.echo(c.text())
        return
    columns = ["metric", "a", "b", "mean_diff", "ci95_low", "ci95_high", "p_value", "verdict", "n_folds", "fold_diffs"]
    print_rows(columns, [(c.metric, c.a, c.b, c.mean_diff, *c.ci95, c.p_value, c.verdict, len(c.fold_diffs),
                          ",".join(f"{d:.6g}" for d in c.fold_diffs)) for c in comparisons], fmt)  # fmt: skip
