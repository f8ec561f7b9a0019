"""`homecat config show`: the resolved settings, where each came from and what it does."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
import yaml

from homecat.cli.base import (
    ConfigFormat,
    TableFormat,
    make_app,
    print_rows,
    state,
)

config_app = make_app(
    "Inspect the resolved settings: value, source and description of each.\n\n"
    "Example: homecat --config my.yaml config show"
)


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
    loaded = state(ctx).settings()
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
