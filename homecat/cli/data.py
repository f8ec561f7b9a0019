"""Commands that build the catalog: scan, sql, demo-corpus, validate, export, split, status."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    FormatOpt,
    ShardOpt,
    TableFormat,
    app,
    deprecated,
    option_not_positional,
    print_rows,
    progress_bar,
    state,
    stderr,
)
from homecat.errors import HomecatError


@app.command()
def scan(
    ctx: typer.Context,
    root: Annotated[Path | None, typer.Option(help="Raw audio root; overrides data.raw_audio_root.")] = None,
    hash_audio: Annotated[
        bool | None, typer.Option("--hash/--no-hash", help="Also compute SHA-1 of new/changed files.")
    ] = None,
    threads: Annotated[int | None, typer.Option(help="Threads reading headers (default data.scan_workers).")] = None,
    workers: Annotated[int | None, typer.Option(hidden=True, help="Old name of --threads.")] = None,
    childproject: Annotated[
        Path | None,
        typer.Option(
            "--childproject", help="A ChildProject dataset to scan instead of a folder (data.childproject_root)."
        ),
    ] = None,
    profile: Annotated[
        str | None,
        typer.Option(
            help="With a ChildProject dataset: scan recordings/converted/PROFILE/ (data.childproject_profile)."
        ),
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Catalog the audio files under the root, or a ChildProject dataset's recordings: headers only, incremental.

    Example: homecat scan --root /scratch/me/RawAudioData --hash

    Example: homecat scan --childproject /data/my-childproject-dataset --profile standard
    """
    from homecat.scan import scan as run_scan

    if workers is not None:  # --workers means processes everywhere else
        deprecated("scan --workers", "--threads")
        threads = threads if threads is not None else workers
    if root is not None and childproject is not None:
        raise HomecatError(
            "Pass either --root (a folder of audio) or --childproject (a ChildProject dataset), not both."
        )
    loaded = state(ctx).settings(
        **{
            "data.raw_audio_root": root,
            "data.hash_audio": hash_audio,
            "data.scan_workers": threads,
            "data.childproject_root": childproject,
            "data.childproject_profile": profile,
        }
    )
    settings = loaded.settings
    if profile is not None and (root is not None or settings.data.childproject_root is None):
        raise HomecatError(
            "--profile names a converted profile of a ChildProject dataset: pass --childproject DIR too."
        )
    with (
        Catalog.open(settings.paths, shared=True) as catalog,
        progress_bar("reading headers", settings=settings) as progress,
    ):
        # an explicit --root scans that folder even when the config names a ChildProject dataset
        summary = run_scan(catalog, settings.data, root=root, progress=progress)
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title=f"scan of {summary.root}")
    for note in summary.notes():
        stderr.print(f"note: {note}")
    for stem, ids in summary.collisions.items():
        stderr.print(f"note: several files share the stem '{stem}'; their recording ids are {', '.join(ids)}")


@app.command("sql")
def sql_command(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="One read-only SQL statement.")],
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Run one reading SQL statement (SELECT, WITH, DESCRIBE, SUMMARIZE, SHOW, EXPLAIN, PRAGMA) on the catalog.

    The connection cannot write, attach, copy to files, read other files, load extensions or change
    settings: write results with --format and the shell, or 'homecat export'.

    Example: homecat sql "SELECT participant_id, sum(duration_sec)/3600 AS hours FROM recordings GROUP BY 1"
    """
    from homecat.reports import run_query

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows = run_query(catalog, query)
    print_rows(columns, rows, fmt)


@app.command("demo-corpus")
def demo_corpus(
    directory: Annotated[Path | None, typer.Argument(hidden=True, show_default=False)] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="New folder to write the demo corpus into.", show_default=False),
    ] = None,
    minutes: Annotated[float, typer.Option(help="Length of each long-form recording in minutes.")] = 3.0,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed writes the same bytes.")] = 0,
) -> None:
    """Synthesize a small tree of long-form home-like recordings, good and broken, for demos and tests.

    Example: homecat demo-corpus -o demo_corpus --minutes 3
    """
    from homecat.demo import make_demo_corpus

    directory = Path(option_not_positional("demo-corpus", "--output", output, directory, metavar="DIR"))
    try:
        corpus = make_demo_corpus(directory, minutes=minutes, seed=seed)
    except ValueError as exc:
        raise HomecatError(str(exc)) from None
    typer.echo(
        f"Wrote {len(corpus.files)} audio files ({corpus.total_audio_sec / 60:.1f} min of good audio, "
        f"{len(corpus.broken)} broken on purpose) to {corpus.root}"
    )


@app.command()
def validate(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option(help="Processes reading files (default validate.validate_workers: all cores).")
    ] = None,
    redo_all: Annotated[
        bool, typer.Option("--all", help="Validate every readable recording again, not only new or changed ones.")
    ] = False,
    window_sec: Annotated[
        float | None, typer.Option(help="Window length of the stored levels (default validate.window_sec).")
    ] = None,
    shard: ShardOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Stream each new or changed recording once: findings, audio statistics and per-window levels.

    Example: homecat validate --workers 8

    Example (a SLURM array task): homecat validate --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT
    """
    from homecat.shards import parse_shard
    from homecat.validate import validate as run_validate

    part = parse_shard(shard)

    overrides = {"validate.validate_workers": workers, "validate.window_sec": window_sec}
    settings = state(ctx).settings(**overrides).settings
    with (
        Catalog.open(settings.paths, shared=True) as catalog,
        progress_bar("validating", unit="h", settings=settings) as progress,
    ):
        summary = run_validate(
            catalog, settings.validate, settings.data, redo_all=redo_all, progress=progress, shard=part
        )
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title="validation")


class ExportFormat(str, Enum):
    files = "files"
    lhotse = "lhotse"


@app.command("export")
def export_command(
    ctx: typer.Context,
    directory: Annotated[Path | None, typer.Argument(hidden=True, show_default=False)] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Folder to write the files into (created if needed).", show_default=False),
    ] = None,
    only: Annotated[
        list[str] | None, typer.Option("--only", help="Write only these files (repeatable), e.g. audio_stats.parquet.")
    ] = None,
    export_format: Annotated[
        ExportFormat,
        typer.Option(
            "--format",
            "-f",
            help="files: Parquet and JSON tables; lhotse: recordings.jsonl.gz and supervisions.jsonl.gz.",
        ),
    ] = ExportFormat.files,
) -> None:
    """Write the manifest, invalid files, audio statistics and splits as Parquet, and summaries as JSON.

    With --format lhotse: a RecordingSet and a SupervisionSet (segments and speech rows) for lhotse.load_manifest.

    Example: homecat export -o artifacts/export --only train_split.parquet --only dev_split.parquet

    Example: homecat export -o artifacts/lhotse --format lhotse
    """
    from homecat.export import export, export_lhotse, select_exports

    directory = Path(option_not_positional("export", "--output", output, directory, metavar="DIR"))
    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        if export_format is ExportFormat.lhotse:
            if only:
                raise HomecatError("--only chooses among the tables of --format files, not lhotse manifests.")
            tolerance = settings.segments.duplicate_tolerance_sec
            written = export_lhotse(catalog, directory, settings.data.channel_policy, tolerance)
        else:
            written = export(catalog, directory, select_exports(only))
    print_rows(["file", "rows", "bytes"], [(str(w.path), w.rows, w.size_bytes) for w in written], TableFormat.table)


@app.command()
def split(
    ctx: typer.Context,
    reshuffle: Annotated[
        bool, typer.Option("--reshuffle", help="Forget every assignment and place all participants afresh.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before --reshuffle.")] = False,
    seed: Annotated[int | None, typer.Option(help="Seed placing new participants (default split.split_seed).")] = None,
    stratify_by: Annotated[
        str | None,
        typer.Option(help="Place new participants within age-band, sex or site groups (default split.stratify_by)."),
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Assign validated recordings to train/dev(/test) by family (where known) or participant; existing
    assignments never move, unless a family learnt since has children in two splits.

    With --stratify-by age-band (sex, site) each split gets its share of every group, so dev is not all one age.

    Then 'homecat export -o DIR' writes train_split.parquet, dev_split.parquet and split_summary.json.

    Example: homecat split --seed 0 && homecat export -o artifacts/export
    """
    from homecat.split import assign_splits

    settings = state(ctx).settings(**{"split.split_seed": seed, "split.stratify_by": stratify_by}).settings
    if reshuffle and not yes:
        typer.confirm(
            "Reshuffle forgets every split assignment and places all participants again. Continue?", abort=True
        )
    with Catalog.open(settings.paths) as catalog:
        summary = assign_splits(catalog, settings.split, reshuffle=reshuffle)
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title="split")
    for note in summary.notes():
        stderr.print(f"note: {note}")


@app.command()
def status(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """What the catalog holds (recordings, validation, findings, speech, segments, splits, runs) and the next stage.

    Example: homecat --config my.yaml status
    """
    from homecat.status import catalog_status

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        result = catalog_status(catalog, settings)
    print_rows(["what", "state"], [tuple(r.values()) for r in result.rows()], fmt, title="catalog status")
