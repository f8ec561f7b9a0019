"""`homecat vad` (Silero VAD) and `vad import|export`: speech rows as RTTM."""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    ChildProjectOpt,
    FormatOpt,
    Group,
    SetOpt,
    ShardOpt,
    TableFormat,
    print_rows,
    progress_bar,
    state,
    stderr,
)
from homecat.cli.segments import childproject_import
from homecat.errors import HomecatError

# `homecat vad` runs the model itself; `vad import` / `vad export` move speech rows as RTTM.
vad_app = typer.Typer(cls=Group, invoke_without_command=True, add_completion=False, pretty_exceptions_enable=False)


@vad_app.callback()
def vad(
    ctx: typer.Context,
    workers: Annotated[
        int | None, typer.Option(help="Processes running the model (default vad.vad_workers: all cores).")
    ] = None,
    redo_all: Annotated[
        bool, typer.Option("--all", help="Run every usable recording again, not only new, changed or re-set ones.")
    ] = False,
    shard: ShardOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Voice activity with Silero VAD (ONNX, CPU) for every usable recording: rows of source 'silero' in `speech`.

    Incremental: a recording whose file and VAD settings did not change is not opened again.
    Subcommands move speech rows of other tools in and out as RTTM.

    Example: homecat vad --workers 8
    """
    if ctx.invoked_subcommand is not None:
        return
    from homecat.shards import parse_shard
    from homecat.vad import run_vad

    part = parse_shard(shard)

    settings = state(ctx).settings(**{"vad.vad_workers": workers}).settings
    with (
        Catalog.open(settings.paths, shared=True) as catalog,
        progress_bar("voice activity", unit="h", settings=settings) as progress,
    ):
        summary = run_vad(catalog, settings.vad, settings.data, redo_all=redo_all, progress=progress, shard=part)
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
        childproject_import(ctx, "speech", files, childproject, set_name, fmt)
        return
    its = [f for f in files or () if f.suffix.lower() == ".its"]
    if its and len(its) != len(files):
        raise HomecatError("Import RTTM files and LENA .its files in separate runs.")
    if recording is not None and not its:
        raise HomecatError("--recording is for .its files; an RTTM line names its recording by its file-id.")
    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, shared=True) as catalog:
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
    from homecat.outputs import output_folder, replacing
    from homecat.speech import export_rttm

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        if output is None:
            export_rttm(catalog, sys.stdout, source or ())
            return
        output_folder(output.parent)
        with replacing(output) as partial, open(partial, "w", encoding="utf-8") as out:  # a refusal leaves no file
            lines = export_rttm(catalog, out, source or ())
    typer.echo(f"Wrote {lines} lines to {output}", err=True)
