"""The `homecat` command line: thin wrappers over the library, one module per command group.

Each command loads settings, opens the catalog, calls one library function and prints. What the groups share
(the top-level app, global options, errors as one sentence, tables/CSV/JSON, progress) is in ``base``.

| commands | module |
|---|---|
| scan, sql, demo-corpus, validate, export, split, status | ``data`` |
| report … | ``report`` |
| segments import/export | ``segments`` |
| vad, vad import/export | ``vad`` |
| crops preview | ``crops`` |
| config show | ``config`` |
| participants import, recordings import | ``participants`` |
| train, evaluate, push | ``training`` |
| embed, probe | ``analysis`` |
"""

from __future__ import annotations

# importing a module registers its commands on app, in this order in `homecat --help`
from homecat.cli import data  # noqa: F401 # isort: skip
from homecat.cli import training  # noqa: F401 # isort: skip
from homecat.cli import analysis  # noqa: F401 # isort: skip
from homecat.cli.base import app
from homecat.cli.config import config_app
from homecat.cli.crops import crops_app
from homecat.cli.participants import participants_app, recordings_app
from homecat.cli.report import report_app
from homecat.cli.segments import segments_app
from homecat.cli.vad import vad_app

app.add_typer(report_app, name="report")
app.add_typer(config_app, name="config")
app.add_typer(crops_app, name="crops")
app.add_typer(vad_app, name="vad")
app.add_typer(segments_app, name="segments")
app.add_typer(participants_app, name="participants")
app.add_typer(recordings_app, name="recordings")

__all__ = ["app", "main"]


def main() -> None:
    """Console-script entry point."""
    app()
