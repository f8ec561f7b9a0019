"""A lab's metadata tables as they keep them: CSV or TSV with a header, any column names (``--column KEY=NAME``).

Shared by `homecat participants import` and `homecat recordings import`. This module never imports typer.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from homecat.errors import HomecatError

MAX_LISTED = 50  # bad lines listed in one error; the rest are counted


def read_records(path: Path, what: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """The lower-cased header and (line number, stripped values) of each non-empty row of a CSV/TSV file."""
    name = path.name
    if not path.is_file():
        raise HomecatError(f"There is no {what} file {path}.")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            first = f.readline()
            f.seek(0)
            delimiter = "\t" if path.suffix.lower() == ".tsv" or ("\t" in first and "," not in first) else ","
            reader = csv.DictReader(f, delimiter=delimiter)
            header = [h.strip().lower() for h in reader.fieldnames or []]
            reader.fieldnames = header
            records = [(reader.line_num, {k: (v or "").strip() for k, v in row.items() if k}) for row in reader]
    except UnicodeDecodeError:
        raise HomecatError(f"{name} is not UTF-8 text; save it as UTF-8 CSV.") from None
    except csv.Error as exc:
        raise HomecatError(f"{name} cannot be read as CSV ({exc}).") from None
    except OSError as exc:
        raise HomecatError(f"{name} cannot be read ({exc.strerror or exc}).") from None
    return header, [(line, values) for line, values in records if any(values.values())]


def column_options(options: Sequence[str], keys: Sequence[str]) -> dict[str, str]:
    """``--column KEY=NAME`` options as {key: lower-case column name}; a bad or repeated key is an error."""
    names: dict[str, str] = {}
    for item in options:
        key, sep, name = item.partition("=")
        key, name = key.strip().lower(), name.strip().lower()
        if not sep or not name or key not in keys:
            raise HomecatError(f"--column '{item}' must be KEY=COLUMN with KEY one of {', '.join(keys)}.")
        if key in names:
            raise HomecatError(f"--column names the {key} column twice ('{names[key]}' and '{name}').")
        names[key] = name
    return names


def pick_column(
    name: str, header: list[str], key: str, mapped: dict[str, str], defaults: Sequence[str], required: bool
) -> str | None:
    """The column of ``key``: the one ``--column`` names (which must exist), else the first default present."""
    if key in mapped:
        if mapped[key] not in header:
            raise HomecatError(
                f"{name} has no column '{mapped[key]}' (--column {key}=...); found: {', '.join(header)}."
            )
        return mapped[key]
    column = next((c for c in defaults if c in header), None)
    if column is None and required:
        raise HomecatError(
            f"{name}: line 1: the header lacks a {key} column ({', '.join(defaults)}, or --column {key}=NAME); "
            f"found: {', '.join(header) or 'nothing'}."
        )
    return column


def raise_problems(name: str, problems: list[str]) -> None:
    """Every bad line in one error, so nothing of the file is imported."""
    if problems:
        head = f"{name} has {len(problems)} invalid line(s), so nothing from it was imported:"
        more = [f"... and {len(problems) - MAX_LISTED} more."] if len(problems) > MAX_LISTED else []
        raise HomecatError(head, *problems[:MAX_LISTED], *more)
