"""The `homecat` command line: thin wrappers over the library.

Each command loads settings, opens the catalog, calls one library function and prints.
Library errors (``HomecatError``) become one sentence on stderr and the error's exit code,
converted in one place (``_Group.invoke``); HOMECAT_DEBUG=1 shows the traceback instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from homecat import __version__
from homecat.catalog import Catalog
from homecat.errors import HomecatError
from homecat.reports import FINDING_CODES
from homecat.settings import LoadedSettings, Settings, load_settings


class _Group(typer.core.TyperGroup):
    """Turns project errors into ``Error: …`` on stderr and the error's exit code; a value an option does not
    take becomes one sentence naming the allowed ones. The top group takes its options after the subcommand too."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if ctx.parent is None:
            args = _global_options_first(self, args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HomecatError as exc:
            if os.environ.get("HOMECAT_DEBUG"):
                raise
            for line in exc.lines:
                typer.echo(f"Error: {line}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except typer.BadParameter as exc:  # an unknown --severity, --code, --format, label: not a usage box
            if os.environ.get("HOMECAT_DEBUG"):
                raise
            # typer words an enum's refusal "Value error, 'x' is not one of 'a', 'b'."
            typer.echo(f"Error: {exc.format_message().replace('Value error, ', '')}", err=True)
            raise typer.Exit(2) from None
        except OSError as exc:  # a file the library did not expect to fail (permissions, a full disk): one sentence
            if os.environ.get("HOMECAT_DEBUG"):
                raise
            where = f"{exc.filename}: " if exc.filename else ""
            typer.echo(f"Error: {where}{exc.strerror or exc} (HOMECAT_DEBUG=1 shows where).", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("Interrupted: work committed so far is kept; rerun to finish.", err=True)
            raise typer.Exit(130) from None


def _global_options_first(group: typer.core.TyperGroup, args: list[str]) -> list[str]:
    """``homecat report summary --catalog x.duckdb`` as ``homecat --catalog x.duckdb report summary``: the
    top group's own options (--catalog, --config, --version), wherever they stand before a ``--``, go first."""
    takes_value = {
        name: not param.is_flag
        for param in group.params
        if isinstance(param, typer.core.TyperOption)
        for name in param.opts
    }
    first: list[str] = []
    rest: list[str] = []
    i = 0
    while i < len(args):
        name, joined, _ = args[i].partition("=")
        if args[i] == "--":
            rest.extend(args[i:])
            break
        width = 2 if takes_value.get(name) and not joined else 1
        (first if name in takes_value else rest).extend(args[i : i + width])
        i += width
    return first + rest


def _deprecated(old: str, new: str) -> None:
    """One line on stderr for an old spelling that still works in this release."""
    typer.echo(f"note: {old} is deprecated and goes in the next release; use {new}.", err=True)


def _app(help: str) -> typer.Typer:
    return typer.Typer(
        cls=_Group, help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False
    )


app = _app(
    "Catalog long-form home recordings in DuckDB and pretrain wav2vec2 on them.\n\n"
    "Example: homecat --catalog catalog/homecat.duckdb scan --root /data/RawAudioData"
)
report_app = _app(
    "Reports over the catalog (named SQL queries in sql/reports/).\n\n"
    "Example: homecat report findings --severity error --format csv"
)
config_app = _app(
    "Inspect the resolved settings: value, source and description of each.\n\n"
    "Example: homecat --config my.yaml config show"
)
app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
crops_app = _app(
    "Random training crops, drawn straight from the raw files.\n\nExample: homecat crops preview --n 8 --split dev"
)
app.add_typer(crops_app, name="crops")
# `homecat vad` runs the model itself; `vad import` / `vad export` move speech rows as RTTM.
vad_app = typer.Typer(cls=_Group, invoke_without_command=True, add_completion=False, pretty_exceptions_enable=False)
app.add_typer(vad_app, name="vad")
segments_app = _app(
    "Annotated segments (CSV/TSV, ELAN .eaf, Praat .TextGrid) for embeddings and probes.\n\n"
    "Example: homecat segments import annotations.csv --skip-invalid"
)
app.add_typer(segments_app, name="segments")

# Piped or logged output (a cluster job's log, `| tee`) has no terminal width: 160 columns keep tables whole
# instead of rich's default 80; COLUMNS still decides.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
stderr = Console(stderr=True)


class TableFormat(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"


class ConfigFormat(str, Enum):
    table = "table"
    yaml = "yaml"
    json = "json"


FormatOpt = Annotated[
    TableFormat, typer.Option("--format", "-f", help="table for people; csv or json (an array of rows) for programs.")
]


class _State:
    def __init__(self, catalog: Path | None, config: Path | None):
        self.catalog = catalog
        self.config = config

    def settings(self, **overrides: Any) -> LoadedSettings:
        if self.catalog is not None:
            overrides["paths.catalog"] = self.catalog
        return load_settings(self.config, overrides)


def _state(ctx: typer.Context) -> _State:
    return ctx.find_root().obj


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"homecat {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    catalog: Annotated[
        Path | None,
        typer.Option("--catalog", help="The DuckDB catalog file (env HOMECAT_CATALOG).", show_default=False),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="A YAML config file (env HOMECAT_CONFIG).", show_default=False)
    ] = None,
    version: Annotated[
        bool, typer.Option("--version", help="Print the version and exit.", is_eager=True, callback=_print_version)
    ] = False,
) -> None:
    """Catalog long-form home recordings in DuckDB and pretrain wav2vec2 on them.

    Example: homecat --catalog catalog/homecat.duckdb scan --root /data/RawAudioData
    """
    ctx.obj = _State(catalog, config)


# --------------------------------------------------------------------------- output


def print_rows(columns: list[str], rows: list[tuple] | list[list], fmt: TableFormat, title: str | None = None) -> None:
    """Print rows as a rich table, CSV, or one JSON array of objects (nothing else on stdout)."""
    if fmt is TableFormat.json:
        records = [dict(zip(columns, row)) for row in rows]
        sys.stdout.write(json.dumps(records, default=_json_default, indent=1) + "\n")
    elif fmt is TableFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        sys.stdout.write(buffer.getvalue())
    else:
        table = Table(title=title, title_justify="left")
        for column in columns:
            table.add_column(column, overflow="fold")  # a narrow terminal wraps names, never cuts them
        for row in rows:
            table.add_row(*[_cell(v) for v in row])
        stdout.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def _json_default(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


class _AmountColumn(ProgressColumn):
    """'1.25/10.00 h  0.31 h/s': progress in a unit (hours of audio), with its rate."""

    def __init__(self, unit: str):
        super().__init__()
        self.unit = unit

    def render(self, task) -> Text:
        total = f"{task.total:.2f}" if task.total is not None else "?"
        return Text(f"{task.completed:.2f}/{total} {self.unit}  {task.speed or 0:.2f} {self.unit}/s")


@contextmanager
def _progress(
    description: str, settings: Settings, unit: str | None = None
) -> Iterator[Callable[[float, float], None] | None]:
    """A rich progress bar on stderr when it is a terminal; otherwise (a batch job's log) a plain line every
    ``log.progress_interval_sec`` of the settings: done/total, rate, ETA.

    Without ``unit`` it counts items (done/total); with one (e.g. "h") it shows amounts and a rate.
    """
    if not stderr.is_terminal:
        from homecat.progress import ProgressLines

        yield ProgressLines(description, unit or "files", settings.log.progress_interval_sec)
        return
    counter = _AmountColumn(unit) if unit else MofNCompleteColumn()
    columns = (BarColumn(), counter, TimeRemainingColumn())
    with Progress(f"{description}", *columns, console=stderr, transient=True) as bar:
        task = bar.add_task(description, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


# --------------------------------------------------------------------------- commands


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
        _deprecated("scan --workers", "--threads")
        threads = threads if threads is not None else workers
    if root is not None and childproject is not None:
        raise HomecatError(
            "Pass either --root (a folder of audio) or --childproject (a ChildProject dataset), not both."
        )
    loaded = _state(ctx).settings(
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
        _progress("reading headers", settings=settings) as progress,
    ):
        # an explicit --root scans that folder even when the config names a ChildProject dataset
        summary = run_scan(catalog, settings.data, root=root, progress=progress)
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title=f"scan of {summary.root}")
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

    settings = _state(ctx).settings().settings
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

    directory = Path(_option_not_positional("demo-corpus", "--output", output, directory, metavar="DIR"))
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
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Stream each new or changed recording once: findings, audio statistics and per-window levels.

    Example: homecat validate --workers 8
    """
    from homecat.validate import validate as run_validate

    overrides = {"validate.validate_workers": workers, "validate.window_sec": window_sec}
    settings = _state(ctx).settings(**overrides).settings
    with (
        Catalog.open(settings.paths, shared=True) as catalog,
        _progress("validating", unit="h", settings=settings) as progress,
    ):
        summary = run_validate(catalog, settings.validate, settings.data, redo_all=redo_all, progress=progress)
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

    directory = Path(_option_not_positional("export", "--output", output, directory, metavar="DIR"))
    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        if export_format is ExportFormat.lhotse:
            if only:
                raise HomecatError("--only chooses among the tables of --format files, not lhotse manifests.")
            tolerance = settings.segments.duplicate_tolerance_sec
            written = export_lhotse(catalog, directory, settings.data.channel_policy, tolerance)
        else:
            written = export(catalog, directory, select_exports(only))
    print_rows(["file", "rows", "bytes"], [(str(w.path), w.rows, w.size_bytes) for w in written], TableFormat.table)


@report_app.command("silence")
def report_silence(
    ctx: typer.Context,
    threshold_db: Annotated[
        float | None,
        typer.Option(help="Judge every window against this dBFS level instead of each recording's own threshold."),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw the activity picture (one row per recording) into this PNG.")
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Hours, active hours, silent share and longest silent stretch, per recording and participant.

    Computed from the stored window levels: no audio is read, so --threshold-db answers at once.

    Example: homecat report silence --threshold-db -45 --plot artifacts/silence.png
    """
    _run_report(ctx, "silence", fmt, threshold_db=threshold_db)
    if plot is not None:
        from homecat.plots import plot_silence

        settings = _state(ctx).settings().settings
        with Catalog.open(settings.paths, read_only=True) as catalog:
            written = plot_silence(catalog, plot, threshold_db)
        typer.echo(f"Wrote {written}", err=True)


class Severity(str, Enum):
    error = "error"
    warning = "warning"
    info = "info"


# Every code a finding can have: an unknown --code is an error naming these, not an empty table.
FindingCode = Enum("FindingCode", {code: code for code in FINDING_CODES}, type=str)


@report_app.command("findings")
def report_findings(
    ctx: typer.Context,
    code: Annotated[
        FindingCode | None,
        typer.Option(metavar="CODE", help="Only this code (truncated, silent, clipping, …; the README lists all)."),
    ] = None,
    severity: Annotated[Severity | None, typer.Option(help="Only this severity.")] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Every problem found in the recordings, worst first, each naming its file and the numbers.

    Example: homecat report findings --severity error --format csv
    """
    _run_report(ctx, "findings", fmt, code=code.value if code else None, severity=severity.value if severity else None)


@report_app.command("participants")
def report_participants(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """Per participant: files, hours, validated files, files with errors, usable and active hours.

    Example: homecat report participants --format json
    """
    _run_report(ctx, "participants", fmt)


@report_app.command("summary")
def report_summary(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """Files, hours and participants: in total and by status, format, sample rate, channels and validation.

    A ChildProject scan adds hours by the child's age band, and per child and band.

    Example: homecat report summary --format json
    """
    _run_report(ctx, "summary", fmt)


def _run_report(ctx: typer.Context, name: str, fmt: TableFormat, **params: Any) -> None:
    from homecat.reports import report_title, run_report

    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, name, params)
    print_rows(columns, rows, fmt, title=report_title(name, params))


@report_app.command("splits")
def report_splits(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """Hours, recordings and participants per split, and the leakage check (must be 0).

    Example: homecat report splits --format csv
    """
    _run_report(ctx, "splits", fmt)


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
    """Assign validated recordings to train/dev(/test) by participant; existing assignments never move.

    With --stratify-by age-band (sex, site) each split gets its share of every group, so dev is not all one age.

    Then 'homecat export -o DIR' writes train_split.parquet, dev_split.parquet and split_summary.json.

    Example: homecat split --seed 0 && homecat export -o artifacts/export
    """
    from homecat.split import assign_splits

    settings = _state(ctx).settings(**{"split.split_seed": seed, "split.stratify_by": stratify_by}).settings
    if reshuffle and not yes:
        typer.confirm(
            "Reshuffle forgets every split assignment and places all participants again. Continue?", abort=True
        )
    with Catalog.open(settings.paths) as catalog:
        summary = assign_splits(catalog, settings.split, reshuffle=reshuffle)
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title="split")
    for note in summary.notes():
        stderr.print(f"note: {note}")


# Shared by `segments import` and `vad import` for a ChildProject dataset's annotation sets.
ChildProjectOpt = Annotated[
    Path | None, typer.Option("--childproject", help="A ChildProject dataset: import one of its annotation sets.")
]
SetOpt = Annotated[
    str | None, typer.Option("--set", help="With --childproject: the annotation set (annotations/SET/).")
]


@segments_app.command("import")
def segments_import(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(help="Annotation files: .csv/.tsv, ELAN .eaf, Praat .TextGrid (none with --childproject)."),
    ] = None,
    tier: Annotated[
        list[str] | None, typer.Option("--tier", help="Import only this tier (repeatable); default: every tier.")
    ] = None,
    recording: Annotated[
        str | None,
        typer.Option(help="rel_path or recording_id the files belong to (default for .eaf/.TextGrid: the file stem)."),
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid intervals; record the others as findings.")
    ] = False,
    childproject: ChildProjectOpt = None,
    set_name: SetOpt = None,
    label_column: Annotated[
        str, typer.Option(help="With --childproject: the label's column (speaker_type, vcm_type, addressee, ...).")
    ] = "speaker_type",
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            help="CSV column of a field, KEY=NAME with KEY recording, start, end, label, tier (or speaker) or "
            "offset (a per-row clip offset, in the time unit); repeatable.",
        ),
    ] = None,
    time_unit: Annotated[str, typer.Option(help="Unit of a CSV's times: s, ms or frames (with --frame-rate).")] = "s",
    frame_rate: Annotated[float | None, typer.Option(help="Frames per second, for --time-unit frames.")] = None,
    offset_sec: Annotated[
        float, typer.Option(help="Added to every time of the files: where an annotated clip starts in the recording.")
    ] = 0.0,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load annotated intervals into the catalog; importing a file of the same name again replaces its segments.

    Formats: CSV/TSV, ELAN .eaf (its media's TIME_ORIGIN is honoured), Praat .TextGrid and LENA .its
    (speaker types as labels, tier 'spkr'; the recorder's clock times are kept).

    Every problem of a file is listed at once (its line, or tier and interval) and nothing from that file
    is imported, unless --skip-invalid is given. With --childproject DIR --set NAME: an annotation set of
    a ChildProject dataset (scanned with 'homecat scan --childproject'), only inside its annotated ranges.

    Example: homecat segments import demo_corpus/annotations.csv demo_corpus/P01_day1.TextGrid --skip-invalid

    Example: homecat segments import clips.csv --column recording=filename --column start=onset --column end=offset
    --column label=speaker_type --column offset=clip_onset --time-unit ms

    Example: homecat segments import --childproject /data/my-dataset --set eaf --label-column vcm_type
    """
    from homecat.mapping import Mapping
    from homecat.segments import import_files

    if childproject is not None or set_name is not None:
        _childproject_import(ctx, "segments", files, childproject, set_name, fmt, label_column, skip_invalid)
        return
    if not files:
        raise HomecatError(
            "Name at least one annotation file, or a ChildProject set with --childproject DIR --set NAME."
        )
    mapping = Mapping.from_options(column or (), time_unit, frame_rate, offset_sec)
    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths) as catalog:
        report = import_files(catalog, files, tier or (), recording, skip_invalid, mapping)
    for result in report.results:
        typer.echo(result.summary())
    if any(result.skipped for result in report.results):
        typer.echo("note: 'homecat report findings --code invalid_segment' lists the skipped intervals", err=True)
    error = report.error()
    if error is not None:
        raise error


def _childproject_import(
    ctx: typer.Context,
    target: str,
    files: list[Path] | None,
    dataset: Path | None,
    set_name: str | None,
    fmt: TableFormat,
    label_column: str = "speaker_type",
    skip_invalid: bool = False,
) -> None:
    """`segments import` / `vad import` of a ChildProject annotation set (homecat.childproject)."""
    from homecat.childproject import import_segments, import_speech

    if files:
        raise HomecatError("Pass either annotation files or --childproject DIR --set NAME, not both.")
    if dataset is None or not set_name:
        raise HomecatError("A ChildProject import needs both --childproject DIR and --set NAME.")
    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths) as catalog:
        if target == "segments":
            result = import_segments(catalog, dataset, set_name, label_column, skip_invalid)
        else:
            result = import_speech(catalog, dataset, set_name)
    print_rows(
        ["what", "count"], [tuple(r.values()) for r in result.rows()], fmt, title=f"{target} from set {set_name}"
    )


class SegmentsFormat(str, Enum):
    rttm = "rttm"
    eaf = "eaf"
    textgrid = "textgrid"


@segments_app.command("export")
def segments_export(
    ctx: typer.Context,
    fmt: Annotated[SegmentsFormat, typer.Option("--format", "-f", help="rttm, eaf (ELAN) or textgrid (Praat).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the files, one per recording.")],
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only segments of this source file (repeatable).")
    ] = None,
) -> None:
    """Write segments back as annotation files named <recording_id>.rttm/.eaf/.TextGrid, to check in ELAN or Praat.

    One event imported from several files is written once; overlapping intervals of a tier go to extra tiers.

    Example: homecat segments export --format eaf -o artifacts/eaf --source annotations.csv
    """
    from homecat.segments_export import export_segments

    settings = _state(ctx).settings().settings
    tolerance = settings.segments.duplicate_tolerance_sec
    with Catalog.open(settings.paths, read_only=True) as catalog:
        written = export_segments(catalog, output, fmt.value, source or (), tolerance)
    typer.echo(f"Wrote {len(written)} {fmt.value} files to {output}", err=True)


@report_app.command("segments")
def report_segments(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """Imported segments and hours per tier, label and participant, with an all-participants row per label.

    The same event imported from two files counts once; `duplicates` says how many repeats were left out
    (segments.duplicate_tolerance_sec).

    Example: homecat report segments --format csv
    """
    tolerance = _state(ctx).settings().settings.segments.duplicate_tolerance_sec
    _run_report(ctx, "segments", fmt, tolerance_sec=tolerance)


@crops_app.command("preview")
def crops_preview(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of crops to draw.")] = 8,
    split_name: Annotated[str, typer.Option("--split", help="Split to draw from (train, dev or test).")] = "train",
    epoch: Annotated[int, typer.Option(help="Epoch whose crops to draw.")] = 0,
    rank: Annotated[int, typer.Option(help="Process rank whose crops to draw.")] = 0,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Draw crops exactly as training would (reads only the crop windows): where from, level, speech share, policy part.

    Example: homecat crops preview --n 8 --split dev --format json
    """
    from homecat.crop_snapshot import build_crop_index
    from homecat.crops import CropDataset, preview_crops

    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        c = settings.crops
        index = build_crop_index(catalog, [split_name], c.crop_sec, c.speech_source, c.speech_labels)
    dataset = CropDataset(index, settings.crops, settings.data, rank=rank, epoch=epoch)
    dataset.check_speech_rows()
    preview = preview_crops(dataset, n)
    rows = preview.rows(index)
    print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title=f"{n} crops of epoch {epoch}, rank {rank}")
    totals = {**preview.totals(), **index.summary()}
    if fmt is TableFormat.table:
        print_rows(["total", "value"], list(totals.items()), fmt)
    else:
        stderr.print("totals: " + json.dumps(totals))


@vad_app.callback()
def vad(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option(help="Processes running the model (default vad.vad_workers: all cores).")
    ] = None,
    redo_all: Annotated[
        bool, typer.Option("--all", help="Run every usable recording again, not only new, changed or re-set ones.")
    ] = False,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Voice activity with Silero VAD (ONNX, CPU) for every usable recording: rows of source 'silero' in `speech`.

    Incremental: a recording whose file and VAD settings did not change is not opened again.
    Subcommands move speech rows of other tools in and out as RTTM.

    Example: homecat vad --workers 8
    """
    if ctx.invoked_subcommand is not None:
        return
    from homecat.vad import run_vad

    settings = _state(ctx).settings(**{"vad.vad_workers": workers}).settings
    with (
        Catalog.open(settings.paths, shared=True) as catalog,
        _progress("voice activity", unit="h", settings=settings) as progress,
    ):
        summary = run_vad(catalog, settings.vad, settings.data, redo_all=redo_all, progress=progress)
    print_rows(["what", "count"], [tuple(r.values()) for r in summary.rows()], fmt, title="voice activity")
    for problem in summary.problems:
        stderr.print(f"note: {problem}")


@vad_app.command("import")
def vad_import(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="RTTM files (SPEAKER lines; file-id = recording_id or file stem) or LENA .its files; "
            "none with --childproject."
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Source name of the rows (default: each file's name without .rttm/.its).")
    ] = None,
    recording: Annotated[
        str | None, typer.Option(help="rel_path or recording_id of .its files (default: the file stem).")
    ] = None,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Import the valid rows; record the others as findings.")
    ] = False,
    childproject: ChildProjectOpt = None,
    set_name: SetOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load speech or voice-type turns from RTTM files (voice type classifier, pyannote) into `speech`.

    Every bad line is reported with its line number and then nothing is imported, unless --skip-invalid
    (then bad lines become findings 'invalid_speech_row'). A re-import replaces the source's rows of the
    recordings the files name. A LENA .its file gives its voices (CHN, CHF, FAN, FAF, MAN, MAF, CXN, CXF)
    labelled by speaker type, and the recorder's clock times. With --childproject DIR --set NAME:
    a ChildProject annotation set (label speaker_type, source 'childproject:NAME'), replaced whole.

    Example: homecat vad import vtc/all.rttm --source vtc

    Example: homecat vad import e20190101_080000_012345.its --source lena

    Example: homecat vad import --childproject /data/my-dataset --set vtc
    """
    from homecat.speech import import_its, import_rttm

    if childproject is not None or set_name is not None:
        if source is not None:
            raise HomecatError("--source names RTTM imports; a ChildProject set's source is 'childproject:SET'.")
        _childproject_import(ctx, "speech", files, childproject, set_name, fmt)
        return
    its = [f for f in files or () if f.suffix.lower() == ".its"]
    if its and len(its) != len(files):
        raise HomecatError("Import RTTM files and LENA .its files in separate runs.")
    if recording is not None and not its:
        raise HomecatError("--recording is for .its files; an RTTM line names its recording by its file-id.")
    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths) as catalog:
        if its:
            summary = import_its(catalog, its, recording, source, skip_invalid)
        else:
            summary = import_rttm(catalog, files, source, skip_invalid)
    print_rows(["source", "rows", "recordings"], [tuple(r.values()) for r in summary.rows()], fmt, title="imported")
    if summary.skipped_lines:
        stderr.print(f"note: {summary.skipped_lines} lines were not turns (other RTTM types, zero duration)")
    if summary.invalid_rows:
        stderr.print(
            f"note: {summary.invalid_rows} invalid rows were skipped: "
            "'homecat report findings --code invalid_speech_row' lists them"
        )


class SpeechFormat(str, Enum):
    rttm = "rttm"


@vad_app.command("export")
def vad_export(
    ctx: typer.Context,
    fmt: Annotated[SpeechFormat, typer.Option("--format", "-f", help="Output format.")] = SpeechFormat.rttm,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only rows of this source (repeatable; default: all).")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
) -> None:
    """Write speech rows as RTTM; the file-id is the recording_id (the file's stem, which may name a family).

    Example: homecat vad export --format rttm --source silero -o artifacts/silero.rttm
    """
    from homecat.speech import export_rttm

    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        if output is None:
            export_rttm(catalog, sys.stdout, source or ())
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        partial = output.with_name(output.name + ".partial")  # a refused export leaves no file behind
        try:
            with open(partial, "w", encoding="utf-8") as out:
                lines = export_rttm(catalog, out, source or ())
            partial.replace(output)
        finally:
            partial.unlink(missing_ok=True)
    typer.echo(f"Wrote {lines} lines to {output}", err=True)


@report_app.command("activity")
def report_activity(
    ctx: typer.Context,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw hours and crop shares per participant into this PNG.")
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Per participant and split: hours, energy-active hours, speech by source and label, and each crop policy part's share.

    Speech hours are those of crops.speech_source / crops.speech_labels; shares follow crops.crop_policy.

    Example: homecat report activity --plot artifacts/activity.png
    """
    from homecat.plots import plot_activity
    from homecat.reports import report_title, run_report
    from homecat.speech import activity_params

    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, "activity", activity_params(settings.crops))
    print_rows(columns, rows, fmt, title=report_title("activity"))
    if plot is not None:
        typer.echo(f"Wrote {plot_activity(columns, rows, plot)}", err=True)


def _option_not_positional(command: str, option: str, value: Any, positional: Any, metavar: str = "") -> Any:
    """The value of ``option``, or of the old positional spelling (with a deprecation line); one is needed."""
    metavar = metavar or option.removeprefix("--").upper()
    if positional is not None:
        _deprecated(f"'homecat {command} {metavar}'", f"'homecat {command} {option} {metavar}'")
        if value is not None and value != positional:
            raise HomecatError(f"Name one {option.removeprefix('--')}: {option} {value} or {positional}, not both.")
        return positional
    if value is None:
        raise HomecatError(f"Name the {option.removeprefix('--')}: 'homecat {command} {option} {metavar}'.")
    return value


@report_app.command("timeline")
def report_timeline(
    ctx: typer.Context,
    rel_path: Annotated[str | None, typer.Argument(hidden=True, show_default=False)] = None,
    recording: Annotated[
        str | None, typer.Option(help="The recording's rel_path (or recording_id).", show_default=False)
    ] = None,
    plot: Annotated[Path | None, typer.Option(help="Draw levels and speech over the recording into this PNG.")] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """One recording over its day: energy-active time and each speech source/label's turns (no audio is read).

    Example: homecat report timeline --recording P01/P01_day1.wav --plot artifacts/timeline.png
    """
    from homecat.plots import plot_timeline
    from homecat.speech import timeline

    rel_path = _option_not_positional("report timeline", "--recording", recording, rel_path)
    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        line = timeline(catalog, rel_path)
    rows = line.rows()
    print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title=f"timeline of {line.recording_id}")
    if plot is not None:
        typer.echo(f"Wrote {plot_timeline(line, plot)}", err=True)


@config_app.command("show")
def config_show(
    ctx: typer.Context,
    fmt: Annotated[
        ConfigFormat,
        typer.Option("--format", "-f", help="table: value and source of each setting; yaml/json: a config file."),
    ] = ConfigFormat.table,
) -> None:
    """Print the resolved settings (secrets hidden), where each value came from and what it does.

    Example: homecat --config my.yaml config show --format yaml > resolved.yaml
    """
    loaded = _state(ctx).settings()
    if fmt is ConfigFormat.yaml:
        sys.stdout.write(yaml.safe_dump(loaded.settings.to_config_dict(), sort_keys=False))
    elif fmt is ConfigFormat.json:
        sys.stdout.write(json.dumps(loaded.settings.to_config_dict(), indent=2) + "\n")
    else:
        rows = [
            (
                r["setting"],
                json.dumps(r["value"]) if not isinstance(r["value"], str) else r["value"],
                r["source"],
                r["description"],
            )
            for r in loaded.rows()
        ]
        print_rows(["setting", "value", "source", "description"], rows, TableFormat.table)


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
) -> None:
    """Push a trained model and its model card to the Hugging Face Hub (token: HF_TOKEN or .env).

    Example: homecat push --run artifacts/training/run1 --repo-id my-lab/wav2vec2-homes --dry-run
    """
    from homecat.hub import push as run_push

    settings = _state(ctx).settings(**{"hub.repo_id": repo_id, "hub.private": private}).settings
    result = run_push(
        settings, run=run, checkpoint=checkpoint, dry_run=dry_run, include_checkpoints=include_checkpoints
    )
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

    settings = _state(ctx).settings().settings
    out = run_train(settings, resume=resume_from or ("latest" if resume else None))
    typer.echo(f"Run folder: {out}")


@report_app.command("training")
def report_training(
    run_arg: Annotated[Path | None, typer.Argument(hidden=True, show_default=False)] = None,
    run: Annotated[
        Path | None, typer.Option(help="The run folder (artifacts/training/<run_name>).", show_default=False)
    ] = None,
    last: Annotated[int, typer.Option(help="Logged training rows to show (the newest).")] = 20,
    plot: Annotated[Path | None, typer.Option(help="Also draw the curves into this PNG file.")] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """The logged training curves of a run: the last rows of logs/metrics.jsonl, dev evaluations, a plot.

    Example: homecat report training --run artifacts/training/wav2vec2-ssl --last 10 --plot curves.png
    """
    from homecat.plots import plot_training
    from homecat.train.report import training_tables, verdict

    run = Path(_option_not_positional("report training", "--run", run, run_arg))
    tables = training_tables(run, last=last)
    typer.echo(verdict(run).line(run.name), err=fmt is not TableFormat.table)
    columns, rows = tables["train"]
    print_rows(columns, rows, fmt, title=f"training steps of {run.name}")
    dev_columns, dev_rows = tables["dev"]
    if dev_rows and fmt is TableFormat.table:
        print_rows(dev_columns, dev_rows, fmt, title="dev evaluations")
    if plot is not None:
        typer.echo(f"Plot: {plot_training(run, plot)}", err=True)


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
    settings = _state(ctx).settings(**overrides).settings
    _check_labels(settings, label or ())
    # a run's models once each, after those named with --model (a model named twice is the user's to see)
    models = list(model or ())
    models += dict.fromkeys(m for _, m, _ in (run_sets(run) if run is not None else ()) if m not in models)
    with _progress("embedding segments", unit="segments", settings=settings) as progress:
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
    plot: Annotated[
        Path | None, typer.Option(help="Also draw UAR by layer, with eGeMAPS and chance lines, into this PNG.")
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

    With --by age-band: UAR per age band at recording too, with its segment and participant counts.

    Example: homecat probe --label adult --label infant --label noise --folds 5 --plot artifacts/probe.png
    Over a run: homecat probe --run artifacts/training/run1 --label adult --label infant --plot run1-probe.png
    """
    from homecat.plots import plot_probe, plot_probe_steps
    from homecat.probe import STEP_COLUMNS, best_by_step, probe_run
    from homecat.probe import probe as run_probe

    settings = _state(ctx).settings().settings
    if set_name:  # --set is a ChildProject annotation set in the importers
        _deprecated("probe --set", "--embedding-set")
    if labels is not None:  # lists are repeated options everywhere else
        _deprecated("probe --labels a,b", "--label a --label b")
    wanted = [*(label or ()), *(x.strip() for x in (labels or "").split(",") if x.strip())]
    sets = [*(embedding_set or ()), *(set_name or ())]
    if run is not None and by is not None:
        raise HomecatError(
            "--by scores embedding sets (--embedding-set); with --run, probe the run first, "
            "then its sets with --embedding-set and --by."
        )
    if run is not None:
        result, steps = probe_run(settings, run, labels=wanted, folds=folds)
        best = best_by_step(result, steps)
        print_rows(STEP_COLUMNS, [tuple(b[c] for c in STEP_COLUMNS) for b in best], fmt,
                   title=f"best layer by training step of {run.name}")  # fmt: skip
        if plot is not None:
            typer.echo(f"Wrote {plot_probe_steps(result, steps, plot, run.name)}", err=True)
        return
    with _progress("probing layers", unit="layers", settings=settings) as progress:
        result = run_probe(settings, sets=sets, labels=wanted, folds=folds, progress=progress, by=by)
    columns, rows = result.table()
    title = (
        f"probe {result.probe_id}: {', '.join(result.labels)}; {result.n_segments} segments, "
        f"{result.n_participants} participants, {result.n_folds} folds (UAR = balanced accuracy)"
    )
    if by is not None and fmt is not TableFormat.table:
        columns, rows = result.breakdown_table()  # a program asked for the breakdown: one array, nothing else
    print_rows(columns, rows, fmt, title=title)
    if by is not None and fmt is TableFormat.table:
        print_rows(*result.breakdown_table(), fmt, title=f"UAR by {by} (out-of-fold predictions, pooled over folds)")
    if result.not_converged:
        stderr.print(f"note: {result.not_converged} fits stopped at probe.probe_max_iter before converging")
    if plot is not None:
        typer.echo(f"Wrote {plot_probe(result, plot)}", err=True)


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

    settings = _state(ctx).settings().settings
    if run is not None:
        rows = evaluate_run(settings, run)
        print_rows(
            RUN_COLUMNS, [tuple(r[c] for c in RUN_COLUMNS) for r in rows], fmt, title=f"dev metrics of {run.name}"
        )
        if plot is not None:
            typer.echo(f"Plot: {plot_run(rows, plot, run.name)}", err=True)
        return
    rows = evaluate_models(settings, model or [])
    print_rows(
        COLUMNS, [tuple(r[c] for c in COLUMNS) for r in rows], fmt, title="dev metrics (same crops, masks, negatives)"
    )


participants_app = _app(
    "What the lab knows about its participants: date of birth or age, sex, site.\n\n"
    "Example: homecat participants import metadata/participants.csv"
)
app.add_typer(participants_app, name="participants")


@participants_app.command("import")
def participants_import(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="CSV/TSV: participant_id (or child_id, id), dob or age_months/age_days, sex, site.")
    ],
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load participants' dates of birth (or ages), sex and site; ages at recording then show in reports and probes.

    Every bad line is listed and then nothing is imported; a file's rows replace those of the participants it names.

    Example: homecat participants import metadata/participants.csv
    """
    from homecat.participants import import_participants

    settings = _state(ctx).settings().settings
    with Catalog.open(settings.paths) as catalog:
        result = import_participants(catalog, file)
    print_rows(
        ["what", "count"], [tuple(r.values()) for r in result.rows()], fmt, title=f"participants from {file.name}"
    )


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    main()
