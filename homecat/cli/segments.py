"""`homecat segments import|export`: annotated intervals in and out of the catalog."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    ChildProjectOpt,
    FormatOpt,
    SetOpt,
    TableFormat,
    make_app,
    print_rows,
    state,
)
from homecat.errors import HomecatError

segments_app = make_app(
    "Annotated segments (CSV/TSV, ELAN, Praat, LENA, CHAT, ALICE, VCM) for embeddings and probes.\n\n"
    "Example: homecat segments import annotations.csv --skip-invalid"
)


@segments_app.command("import")
def segments_import(
    ctx: typer.Context,
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Annotation files: .csv/.tsv, .eaf, .TextGrid, .its, .cha, .vcm, ALICE .txt (none with --childproject)."
        ),
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
    label_from_tier: Annotated[
        bool,
        typer.Option(
            "--label-from-tier",
            help="Label each interval with its tier's name (per-speaker tiers: MOT, CHI); empty ELAN annotations count.",
        ),
    ] = False,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load annotated intervals into the catalog; importing a file of the same name again replaces its segments.

    Formats: CSV/TSV, ELAN .eaf (its media descriptor names the recording; its TIME_ORIGIN is honoured),
    Praat .TextGrid, LENA .its (speaker types as labels, tier 'spkr'; the recorder's clock times are kept),
    CHAT .cha (one segment per bulleted utterance, labelled by speaker), ALICE output (word, syllable and
    phoneme counts per utterance) and VCM .vcm (vcm_type and speaker_type tiers).

    Every problem of a file is listed at once (its line, or tier and interval) and nothing from that file
    is imported, unless --skip-invalid is given. With --childproject DIR --set NAME: an annotation set of
    a ChildProject dataset (scanned with 'homecat scan --childproject'), only inside its annotated ranges.

    Example: homecat segments import demo_corpus/annotations.csv demo_corpus/P01_day1.TextGrid --skip-invalid

    Example: homecat segments import clips.csv --column recording=filename --column start=onset --column end=offset
    --column label=speaker_type --column offset=clip_onset --time-unit ms

    Example: homecat segments import --childproject /data/my-dataset --set eaf --label-column vcm_type

    Example: homecat segments import coding/*.eaf --label-from-tier --tier MOT --tier CHI
    """
    from homecat.mapping import Mapping
    from homecat.segments import import_files

    if childproject is not None or set_name is not None:
        childproject_import(ctx, "segments", files, childproject, set_name, fmt, label_column, skip_invalid)
        return
    if not files:
        raise HomecatError(
            "Name at least one annotation file, or a ChildProject set with --childproject DIR --set NAME."
        )
    mapping = Mapping.from_options(column or (), time_unit, frame_rate, offset_sec)
    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, shared=True) as catalog:
        report = import_files(catalog, files, tier or (), recording, skip_invalid, mapping, label_from_tier)
    for result in report.results:
        typer.echo(result.summary())
        for note in result.notes:
            typer.echo(f"note: {note}", err=True)
    if any(result.skipped for result in report.results):
        typer.echo("note: 'homecat report findings --code invalid_segment' lists the skipped intervals", err=True)
    error = report.error()
    if error is not None:
        raise error


def childproject_import(
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
    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, shared=True) as catalog:
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
    fmt: Annotated[
        SegmentsFormat | None,
        typer.Option("--format", "-f", help="rttm, eaf (ELAN) or textgrid (Praat); with --output."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Folder for the files, one per recording.")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", help="Only segments of this source file (repeatable).")
    ] = None,
    childproject: Annotated[
        Path | None,
        typer.Option(
            "--childproject", help="Instead of --output: the ChildProject dataset the catalog was scanned from."
        ),
    ] = None,
    set_name: Annotated[
        str | None, typer.Option("--set", help="With --childproject: the new annotation set (annotations/SET/).")
    ] = None,
    label_column: Annotated[
        str, typer.Option(help="With --childproject: the column the labels go to (speaker_type, transcription, ...).")
    ] = "speaker_type",
) -> None:
    """Write segments back as annotation files, one per recording named by its path (FAM01/day1.eaf), for ELAN or Praat,
    or into a ChildProject dataset as a new annotation set.

    One event imported from several files is written once; overlapping intervals of a tier go to extra tiers.
    With --childproject DIR --set NAME (a catalog scanned from DIR): per recording listed in its metadata, a
    converted CSV (segment_onset, segment_offset in ms, the label in --label-column) and a row of
    metadata/annotations.csv, as ChildProject's importer writes them; an existing set is never replaced.

    Example: homecat segments export --format eaf -o artifacts/eaf --source annotations.csv

    Example: homecat segments export --childproject /data/my-dataset --set homecat_coding --source annotations.csv
    """
    if (output is None) == (childproject is None):
        raise HomecatError("Pass exactly one of --output DIR (with --format) and --childproject DIR (with --set NAME).")
    settings = state(ctx).settings().settings
    tolerance = settings.segments.duplicate_tolerance_sec
    if childproject is not None:
        from homecat.childproject import export_set

        if fmt is not None:
            raise HomecatError("--format is for --output files: a ChildProject set is written as its CSVs.")
        if not set_name:
            raise HomecatError("An export into a ChildProject dataset needs --set NAME, the new annotation set.")
        with Catalog.open(settings.paths, read_only=True) as catalog:
            result = export_set(catalog, childproject, set_name, label_column, source or (), tolerance)
        for note in result.notes():
            typer.echo(f"note: {note}", err=True)
        typer.echo(
            f"Wrote set {set_name} to {childproject}: {result.segments} segments of {result.recordings} recordings "
            f"(column {label_column}); check it with 'child-project validate {childproject} --annotations {set_name}'",
            err=True,
        )
        return
    from homecat.segments_export import export_segments

    if fmt is None:
        raise HomecatError("--output needs --format rttm, eaf or textgrid.")
    if set_name is not None:
        raise HomecatError("--set names a ChildProject annotation set: pass it with --childproject DIR.")
    with Catalog.open(settings.paths, read_only=True) as catalog:
        written = export_segments(catalog, output, fmt.value, source or (), tolerance)
    typer.echo(f"Wrote {len(written)} {fmt.value} files to {output}", err=True)
