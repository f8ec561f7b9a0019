"""`homecat participants import` and `homecat recordings import`: what a lab's own tables say about its
participants (dates of birth or ages, sex, site, family) and recordings (date, start time, device)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    FormatOpt,
    TableFormat,
    make_app,
    print_rows,
    state,
)

ColumnOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        help="The file's column of a field, KEY=NAME (repeatable); keys are listed in the file argument's help.",
    ),
]

participants_app = make_app(
    "What the lab knows about its participants: date of birth or age, sex, site.\n\n"
    "Example: homecat participants import metadata/participants.csv"
)


@participants_app.command("import")
def participants_import(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV/TSV: participant_id (or child_id, id), dob or age_months/age_days, sex, site, "
            "family_id (keys: participant, dob, age_months, age_days, sex, site, family)."
        ),
    ],
    column: ColumnOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load participants' dates of birth (or ages), sex, site and family; ages at recording then show in reports
    and probes, and the children of one family share a split.

    Every bad line is listed and then nothing is imported; a file's rows replace those of the participants it names.
    Siblings and twins: one line per child, with a family column.

    Example: homecat participants import metadata/participants.csv

    Example: homecat participants import kids.csv --column participant=kid --column dob=birth --column family=fam
    """
    from homecat.participants import import_participants

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, shared=True) as catalog:
        result = import_participants(catalog, file, column or ())
    print_rows(
        ["what", "count"], [tuple(r.values()) for r in result.rows()], fmt, title=f"participants from {file.name}"
    )


recordings_app = make_app(
    "What the lab knows about its recordings: date, start time, device (for ages where the path has no date).\n\n"
    "Example: homecat recordings import metadata/recordings.csv"
)


@recordings_app.command("import")
def recordings_import(
    ctx: typer.Context,
    file: Annotated[
        Path,
        typer.Argument(
            help="CSV/TSV: recording (recording_id, rel_path or file name), date, start_time, device, child_id, "
            "family_id (keys: recording, date, time, device, child, family)."
        ),
    ],
    column: ColumnOpt = None,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Load recording dates (and start times, devices, families); they win over dates read from the paths.

    Every bad line is listed and then nothing is imported; a file's rows replace those of the recordings it names.
    A child column must agree with the recording's participant (from data.participant_regex).

    Example: homecat recordings import sessions.csv --column recording=file --column date=session_date
    """
    from homecat.recording_dates import import_recordings

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, shared=True) as catalog:
        result = import_recordings(catalog, file, column or ())
    print_rows(["what", "count"], [tuple(r.values()) for r in result.rows()], fmt, title=f"recordings from {file.name}")
