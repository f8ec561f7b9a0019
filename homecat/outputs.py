"""Files homecat writes for people and other programs (exports): each is written under a temporary name
beside it and renamed into place, so a reader never sees half a file and nothing but the named output is
written.

The temporary file is created by ``tempfile.mkstemp`` in the output folder: a fresh random name opened with
``O_EXCL | O_NOFOLLOW``, so a link planted there (at the old fixed ``.name.partial``, or anywhere) is never
followed; the rename then replaces the output's own name, never a file that a link at it points to. A
failure names the output, never the catalog. This module never imports typer.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import duckdb

from homecat.errors import HomecatError, first_line


def output_folder(directory: str | os.PathLike) -> Path:
    """``directory``, created if needed; a folder that cannot be created is one sentence naming it."""
    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomecatError(f"The output folder {directory} cannot be created ({exc.strerror}).") from None
    return directory


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A new empty file beside ``target`` for the block to write; renamed onto ``target`` when the block
    ends without an error, removed otherwise. An OS or DuckDB I/O error is one sentence naming ``target``."""
    try:
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    except OSError as exc:
        raise HomecatError(f"{target} cannot be written ({exc.strerror}).") from None
    partial = Path(name)
    try:
        os.fchmod(handle, 0o666 & ~_umask())  # mkstemp makes it the owner's alone; an export is an ordinary file
    finally:
        os.close(handle)
    try:
        yield partial
        os.replace(partial, target)
    except BaseException as exc:
        with suppress(OSError):
            partial.unlink()
        if isinstance(exc, OSError):
            raise HomecatError(f"{target} cannot be written ({exc.strerror or exc}).") from None
        if isinstance(exc, duckdb.IOException):
            raise HomecatError(f"{target} cannot be written ({first_line(exc)}).") from None
        raise


def _umask() -> int:
    mask = os.umask(0o022)  # the only way to read it is to set it
    os.umask(mask)
    return mask


def sql_literal(path: Path) -> str:
    """``path`` as a quoted SQL string, for DuckDB's ``COPY … TO``."""
    return "'" + str(path).replace("'", "''") + "'"
