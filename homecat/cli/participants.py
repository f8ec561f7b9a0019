"""`homecat participants import`: dates of birth or ages, sex and site of the participants."""

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

participants_app = make_app(
    "What the lab knows about its participants: date of birth or age, sex, site.\n\n"
    "Example: homecat participants import metadata/participants.csv"
)


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

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths) as catalog:
        result = import_participants(catalog, file)
    print_rows(
        ["what", "count"], [tuple(r.values()) for r in result.rows()], fmt, title=f"participants from {file.name}"
    )
