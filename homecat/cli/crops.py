"""`homecat crops preview`: crops drawn exactly as training would draw them."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from homecat.catalog import Catalog
from homecat.cli.base import (
    FormatOpt,
    TableFormat,
    make_app,
    print_rows,
    state,
    stderr,
)

crops_app = make_app(
    "Random training crops, drawn straight from the raw files.\n\nExample: homecat crops preview --n 8 --split dev"
)


@crops_app.command("preview")
def crops_preview(
    ctx: typer.Context,
    n: Annotated[int, typer.Option("--n", min=1, help="Number of crops to draw.")] = 8,
    split_name: Annotated[str, typer.Option("--split", help="Split to draw from (train, dev or test).")] = "train",
    epoch: Annotated[int, typer.Option(help="Epoch whose crops to draw.")] = 0,
    rank: Annotated[int, typer.Option(help="Process rank whose crops to draw.")] = 0,
    listen: Annotated[
        bool,
        typer.Option(
            "--listen", help="Add each crop's command to hear it from the raw file (SoX play; nothing written)."
        ),
    ] = False,
    fmt: FormatOpt = TableFormat.table,
) -> None:
    """Draw crops exactly as training would (reads only the crop windows): where from, level, speech share, policy part.

    Example: homecat crops preview --n 8 --split dev --format json

    Example: homecat crops preview --n 4 --listen --format csv   (then paste a 'listen' command into a shell)
    """
    from homecat.crop_snapshot import build_crop_index
    from homecat.crops import CropDataset, preview_crops

    settings = state(ctx).settings().settings
    with Catalog.open(settings.paths, read_only=True) as catalog:
        c = settings.crops
        index = build_crop_index(catalog, [split_name], c.crop_sec, c.speech_source, c.speech_labels)
    dataset = CropDataset(index, settings.crops, settings.data, rank=rank, epoch=epoch)
    dataset.check_speech_rows()
    preview = preview_crops(dataset, n)
    rows = preview.rows(index, listen=listen)
    print_rows(list(rows[0]), [tuple(r.values()) for r in rows], fmt, title=f"{n} crops of epoch {epoch}, rank {rank}")
    totals = {**preview.totals(), **index.summary()}
    if fmt is TableFormat.table:
        print_rows(["total", "value"], list(totals.items()), fmt)
    else:
        stderr.print("totals: " + json.dumps(totals))
