"""What every command group shares: the top-level app and its global options, the error-to-sentence
conversion (``Group.invoke``), output (tables, CSV, JSON, progress) and option aliases.

Library errors (``HomecatError``) become one sentence on stderr and the error's exit code, converted in one
place; HOMECAT_DEBUG=1 shows the traceback instead.
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
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from homecat import __version__
from homecat.errors import HomecatError, NoCatalog
from homecat.settings import LoadedSettings, Settings, load_settings, missing_catalog_lines


class Group(typer.core.TyperGroup):
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
            lines = exc.lines
            if isinstance(exc, NoCatalog) and isinstance(ctx.find_root().obj, State):
                lines = ctx.find_root().obj.explain_missing_catalog(exc.path) or lines
            for line in lines:
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


def deprecated(old: str, new: str) -> None:
    """One line on stderr for an old spelling that still works in this release."""
    typer.echo(f"note: {old} is deprecated and goes in the next release; use {new}.", err=True)


def make_app(help: str) -> typer.Typer:
    return typer.Typer(cls=Group, help=help, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


app = make_app(
    "Catalog long-form home recordings in DuckDB and pretrain wav2vec2 on them.\n\n"
    "Example: homecat --catalog catalog/homecat.duckdb scan --root /data/RawAudioData"
)
# Piped or logged output (a cluster job's log, `| tee`) has no terminal width: 160 columns keep tables whole
# instead of rich's default 80; COLUMNS still decides.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 160)
stderr = Console(stderr=True, soft_wrap=True)  # a note is one line in a log file, never wrapped at 80 columns


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


class State:
    def __init__(self, catalog: Path | None, config: Path | None):
        self.catalog = catalog
        self.config = config

    def settings(self, **overrides: Any) -> LoadedSettings:
        if self.catalog is not None:
            overrides["paths.catalog"] = self.catalog
        self.loaded = load_settings(self.config, overrides)
        return self.loaded

    def explain_missing_catalog(self, path: Path) -> list[str] | None:
        """The sentence for a missing catalog at ``path``, naming where the setting came from (None: unknown)."""
        loaded = getattr(self, "loaded", None)
        if loaded is None or Path(path) != Path(loaded.settings.paths.catalog):
            return None
        return missing_catalog_lines(Path(path), loaded.sources.get("paths.catalog", "default"))


def state(ctx: typer.Context) -> State:
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
    ctx.obj = State(catalog, config)


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
            # a narrow terminal wraps values, never cuts them; a header keeps its width ("participant_i d" helps no one)
            table.add_column(column, overflow="fold", min_width=min(len(column), _MAX_HEADER_WIDTH))
        for row in rows:
            table.add_row(*[_cell(v) for v in row])
        stdout.print(table)


# Headers longer than this may still wrap (a terminal narrower than a table's headers has no better choice).
_MAX_HEADER_WIDTH = 24


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
def progress_bar(description: str, settings: Settings, unit: str | None = None) -> Iterator[Callable[..., None] | None]:
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

        def update(done: float, total: float, what: str | None = None) -> None:
            named = f"{description} ({what})" if what else description
            bar.update(task, completed=done, total=total, description=named)

        yield update


# --------------------------------------------------------------------------- shared options


def option_not_positional(command: str, option: str, value: Any, positional: Any, metavar: str = "") -> Any:
    """The value of ``option``, or of the old positional spelling (with a deprecation line); one is needed."""
    metavar = metavar or option.removeprefix("--").upper()
    if positional is not None:
        deprecated(f"'homecat {command} {metavar}'", f"'homecat {command} {option} {metavar}'")
        if value is not None and value != positional:
            raise HomecatError(f"Name one {option.removeprefix('--')}: {option} {value} or {positional}, not both.")
        return positional
    if value is None:
        raise HomecatError(f"Name the {option.removeprefix('--')}: 'homecat {command} {option} {metavar}'.")
    return value


# Shared by `segments import` and `vad import` for a ChildProject dataset's annotation sets.
ChildProjectOpt = Annotated[
    Path | None, typer.Option("--childproject", help="A ChildProject dataset: import one of its annotation sets.")
]
SetOpt = Annotated[
    str | None, typer.Option("--set", help="With --childproject: the annotation set (annotations/SET/).")
]

# `validate` and `vad` as SLURM job arrays: each array task takes one share of the recordings.
ShardOpt = Annotated[
    str | None,
    typer.Option(
        "--shard",
        metavar="K/N",
        help="Only share K of N of the recordings (K from 0): one task of a job array, e.g. "
        "--shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT.",
    ),
]
