"""Commands around a training run: train, evaluate, push."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homecat.cli.base import (
    FormatOpt,
    TableFormat,
    app,
    print_rows,
    state,
)


@app.command()
def push(
    ctx: typer.Context,
    run: Annotated[
        Path | None, typer.Option(help="Run folder; pushes RUN/final (default: newest finished run).")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="A checkpoints/step_N folder to push instead.")] = None,
    repo_id: Annotated[str | None, typer.Option(help="Hub repository namespace/name (env HF_REPO_ID).")] = None,
    private: Annotated[
        bool | None, typer.Option("--private/--public", help="Visibility if created (env HF_PRIVATE).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Stage, check and list the files; send nothing.")] = False,
    include_checkpoints: Annotated[
        bool, typer.Option("--include-checkpoints", help="Also push checkpoints/step_N/ model files.")
    ] = False,
    without_probe_evidence: Annotated[
        bool,
        typer.Option(
            "--without-probe-evidence", help="Push though no probe result is of these weights (the card has none)."
        ),
    ] = False,
) -> None:
    """Push a trained model and its model card to the Hugging Face Hub (token: HF_TOKEN or .env).

    The card shows probe results only of the weights pushed (embed and probe them first).

    Example: homecat push --run artifacts/training/run1 --repo-id my-lab/wav2vec2-homes --dry-run
    """
    from homecat.hub import push as run_push

    settings = state(ctx).settings(**{"hub.repo_id": repo_id, "hub.private": private}).settings
    result = run_push(
        settings, run=run, checkpoint=checkpoint, dry_run=dry_run, include_checkpoints=include_checkpoints,
        without_probe_evidence=without_probe_evidence,
    )  # fmt: skip
    print_rows(["file", "bytes"], [(f.path_in_repo, f.size_bytes) for f in result.files], TableFormat.table)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(result.summary())


@app.command()
def train(
    ctx: typer.Context,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the run from its newest complete checkpoint.")
    ] = False,
    resume_from: Annotated[
        Path | None, typer.Option("--resume-from", help="Continue the run from this checkpoints/step_N folder.")
    ] = None,
) -> None:
    """Continued self-supervised pretraining of wav2vec2 in one process (several GPUs: scripts/run_train_ssl.sh).

    Example: homecat --config my.yaml train --resume
    """
    from homecat.train import train as run_train

    settings = state(ctx).settings().settings
    out = run_train(settings, resume=resume_from or ("latest" if resume else None))
    typer.echo(f"Run folder: {out}")


@app.command()
def evaluate(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", help="A model with pretraining heads (folder or Hub id); repeatable."),
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(help="A run folder: its start and every checkpoint, on the run's own dev crops, by step."),
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="With --run: also draw dev loss and accuracy by step.")] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """The trainer's dev metrics for each model on the same fixed dev crops, masks and negatives (no labels).

    Example: homecat --config my.yaml evaluate --model facebook/wav2vec2-base --model artifacts/training/run1/final
    """
    from homecat.evaluate import COLUMNS, RUN_COLUMNS, evaluate_models, evaluate_run
    from homecat.plots import plot_run

    settings = state(ctx).settings().settings
    if run is not None:
        rows = evaluate_run(settings, run)
        print_rows(RUN_COLUMNS, _evaluate_cells(rows, RUN_COLUMNS, fmt), fmt, title=f"dev metrics of {run.name}")
        if plot is not None:
            typer.echo(f"Plot: {plot_run(rows, plot, run.name)}", err=True)
        return
    rows = evaluate_models(settings, model or [])
    print_rows(COLUMNS, _evaluate_cells(rows, COLUMNS, fmt), fmt, title="dev metrics (same crops, masks, negatives)")


def _evaluate_cells(rows: list[dict], columns: list[str], fmt: TableFormat) -> list[tuple]:
    """The rows' cells; a table shows the weights' hash by its first 12 digits (csv and json keep all 64)."""
    short = fmt is TableFormat.table
    return [tuple((r[c] or "–")[:12] if short and c == "weights_sha256" else r[c] for c in columns) for r in rows]
