"""`homecat report …`: the named reports over the catalog, printed as tables, CSV or JSON."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    FormatOpt,
    TableFormat,
    make_app,
    option_not_positional,
    print_rows,
    state,
)
from homecat.reports import FINDING_CODES

report_app = make_app(
    "Reports over the catalog (named SQL queries in sql/reports/).\n\n"
    "Example: homecat report findings --severity error --format csv"
)


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

        settings = state(ctx).settings().settings
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

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, name, params)
    print_rows(columns, rows, fmt, title=report_title(name, params))


@report_app.command("splits")
def report_splits(
    ctx: typer.Context,
    families: Annotated[
        bool, typer.Option("--families", help="Only the families (where known) each split holds, for CSV/JSON.")
    ] = False,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Hours, recordings and participants per split, and the leakage check (must be 0); then which families
    went to each split, where families are known.

    Example: homecat report splits --format csv

    Example: homecat report splits --families --format json
    """
    from homecat.catalog import named_queries
    from homecat.reports import report_title, run_report

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, "splits")
        family_columns, family_rows = catalog.rows(named_queries("reports/splits.sql")["split_families"].sql)
    if not families:
        print_rows(columns, rows, fmt, title=report_title("splits"))
    if families or (fmt == TableFormat.table and family_rows):
        print_rows(family_columns, family_rows, fmt, title="families per split")


@report_app.command("segments")
def report_segments(ctx: typer.Context, fmt: FormatOpt = TableFormat.table) -> None:
    """Imported segments and hours per tier, label and participant, with an all-participants row per label.

    The same event imported from two files counts once; `duplicates` says how many repeats were left out
    (segments.duplicate_tolerance_sec).

    Example: homecat report segments --format csv
    """
    tolerance = state(ctx).settings().settings.segments.duplicate_tolerance_sec
    _run_report(ctx, "segments", fmt, tolerance_sec=tolerance)


@report_app.command("activity")
def report_activity(
    ctx: typer.Context,
    plot: Annotated[
        Path | None, typer.Option(help="Also draw hours and crop shares per participant into this PNG.")
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            metavar="SOURCE",
            help="Instead: agreement of crops.speech_source with this reference (an annotation file's source, "
            "'childproject:SET', or another speech source): hours, precision, recall.",
        ),
    ] = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Per participant and split: hours, energy-active hours, speech by source and label, and each crop policy part's share.

    Speech hours are those of crops.speech_source / crops.speech_labels; shares follow crops.crop_policy.
    With --against SOURCE: how far those speech rows agree with a reference, second by second, per recording.

    Example: homecat report activity --plot artifacts/activity.png

    Example: homecat report activity --against annotations.csv
    """
    from homecat.plots import plot_activity
    from homecat.reports import report_title, run_report
    from homecat.speech import activity_params

    settings = state(ctx).settings().settings
    if against is not None:
        from homecat.agreement import agreement

        with Catalog.open(settings.paths, read_only=True) as catalog:
            report = agreement(catalog, against, settings.crops.speech_source, settings.crops.speech_labels)
        rows = report.rows()
        print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title=report.title())
        return
    with Catalog.open(settings.paths, read_only=True) as catalog:
        columns, rows, _ = run_report(catalog, "activity", activity_params(settings.crops))
    print_rows(columns, rows, fmt, title=report_title("activity"))
    if rows and all(row[columns.index("split")] == "(none)" for row in rows):
        typer.echo(
            "note: no recording is in a split yet, so no training crops are drawn: run 'homecat split'", err=True
        )
    if plot is not None:
        typer.echo(f"Wrote {plot_activity(columns, rows, plot)}", err=True)


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
    """One recording over its day: energy-active time, each speech source/label's turns and the annotated segments.

    No audio is read. Annotations are lanes 'annotated TIER/LABEL' beside the VAD's, to compare them by eye.

    Example: homecat report timeline --recording P01/P01_day1.wav --plot artifacts/timeline.png
    """
    from homecat.plots import plot_timeline
    from homecat.speech import timeline

    rel_path = option_not_positional("report timeline", "--recording", recording, rel_path)
    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        line = timeline(catalog, rel_path, settings.segments.duplicate_tolerance_sec)
    rows = line.rows()
    print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title=f"timeline of {line.recording_id}")
    if plot is not None:
        typer.echo(f"Wrote {plot_timeline(line, plot)}", err=True)


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

    run = Path(option_not_positional("report training", "--run", run, run_arg))
    tables = training_tables(run, last=last)
    typer.echo(verdict(run).line(run.name), err=fmt is not TableFormat.table)
    columns, rows = tables["train"]
    print_rows(columns, rows, fmt, title=f"training steps of {run.name}")
    dev_columns, dev_rows = tables["dev"]
    if dev_rows and fmt is TableFormat.table:
        print_rows(dev_columns, dev_rows, fmt, title="dev evaluations")
    if plot is not None:
        typer.echo(f"Plot: {plot_training(run, plot)}", err=True)
