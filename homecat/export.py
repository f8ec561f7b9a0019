"""`homecat export DIR`: the catalog's tables as files for people and programs outside homecat.

``EXPORTS`` is the whole design: a list of (file name, named query). A ``.parquet`` file is written
by DuckDB's ``COPY (query) TO … (FORMAT parquet)``; a ``.json`` file is an object: the query's
``description`` (its doc comment) and its ``rows`` as an array of objects. A later stage adds its files by appending to the list (e.g. the splits:
``train_split.parquet``, ``dev_split.parquet``, ``split_summary.json``). Each file is written
under a temporary name and renamed (``homecat.outputs``), so a reader never sees half a file.

``export_lhotse`` writes the catalog as lhotse manifests instead (``--format lhotse``).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError
from homecat.outputs import output_folder, replacing, sql_literal


@dataclass(frozen=True)
class Export:
    file_name: str  # its extension (.parquet or .json) decides the format
    sql_file: str  # relative to sql/, e.g. "export/export.sql"
    query: str  # the `-- name:` inside it


EXPORTS: list[Export] = [
    Export("raw_audio_manifest.parquet", "export/export.sql", "raw_audio_manifest"),
    Export("invalid_files.parquet", "export/export.sql", "invalid_files"),
    Export("audio_stats.parquet", "export/export.sql", "audio_stats"),
    Export("summary.json", "reports/summary.sql", "summary"),
    Export("train_split.parquet", "queries/split.sql", "train_split"),
    Export("dev_split.parquet", "queries/split.sql", "dev_split"),
    Export("split_summary.json", "reports/splits.sql", "splits"),
]


def select_exports(names: list[str] | None) -> list[Export]:
    """The exports named (all when ``names`` is empty); an unknown name is one clear error."""
    if not names:
        return EXPORTS
    known = {item.file_name: item for item in EXPORTS}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise HomecatError(f"Unknown export {', '.join(unknown)}; exports: {', '.join(known)}.")
    return [known[n] for n in names]


@dataclass(frozen=True)
class Written:
    path: Path
    rows: int
    size_bytes: int


def export(catalog: Catalog, directory: str | os.PathLike, exports: list[Export] | None = None) -> list[Written]:
    """Write every export into ``directory`` (created if needed); return what was written."""
    directory = output_folder(directory)
    written = []
    for item in exports or EXPORTS:
        query = named_queries(item.sql_file)[item.query]
        sql = query.sql.rstrip().rstrip(";")
        target = directory / item.file_name
        if target.suffix not in (".parquet", ".json"):
            raise ValueError(f"{item.file_name}: exports are .parquet or .json files")
        with replacing(target) as partial:
            if target.suffix == ".parquet":
                # USE_TMP_FILE false: the file is already a temporary one, DuckDB need not pick another name
                rows = catalog.con.execute(
                    f"COPY ({sql}) TO {sql_literal(partial)} (FORMAT parquet, USE_TMP_FILE false)"
                ).fetchone()[0]  # COPY answers with the rows written
            else:
                columns, values = catalog.rows(sql)
                records = [dict(zip(columns, row)) for row in values]
                document = {"description": query.doc, "rows": records}
                partial.write_text(json.dumps(document, indent=1, default=_json_default) + "\n", encoding="utf-8")
                rows = len(records)
        written.append(Written(target, rows, target.stat().st_size))
    return written


def _json_default(value: object) -> object:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


# --------------------------------------------------------------------------- lhotse manifests

LHOTSE_FILES = ("recordings.jsonl.gz", "supervisions.jsonl.gz")


def export_lhotse(
    catalog: Catalog, directory: str | os.PathLike, channel_policy: str | int, tolerance_sec: float
) -> list[Written]:
    """Write lhotse's ``recordings.jsonl.gz`` (a RecordingSet) and ``supervisions.jsonl.gz`` (a SupervisionSet).

    Recordings: readable, without an error finding; every channel of the file, ids are recording_ids,
    durations are frames / rate. Supervisions: segments (repeats across files left out) and speech rows
    of those recordings; ``speaker`` is the label (a voice type such as FEM, KCHI, or an event class),
    ``custom`` says its kind ('segment' or 'speech'), source and tier. ``channel`` follows
    data.channel_policy: every channel for 'mean' (to be down-mixed), else the one channel used.
    The queries build lhotse's objects and DuckDB's JSON writer writes them (one per line, gzip), as
    lhotse's own ``to_file`` would, without importing lhotse: 5x faster than building lhotse objects.
    """
    directory = output_folder(directory)
    queries = named_queries("export/export.sql")
    params = {"tolerance_sec": tolerance_sec, "channel_policy": str(channel_policy)}
    written = []
    for file_name, query in zip(LHOTSE_FILES, ("lhotse_recordings", "lhotse_supervisions")):
        sql = queries[query].sql.rstrip().rstrip(";")
        query_params = {k: v for k, v in params.items() if f"${k}" in sql}
        target = directory / file_name
        with replacing(target) as partial:
            copy = f"COPY ({sql}) TO {sql_literal(partial)} (FORMAT json, COMPRESSION gzip, USE_TMP_FILE false)"
            rows = catalog.con.execute(copy, query_params).fetchall()[0][0]  # COPY answers with the rows written
        written.append(Written(target, rows, target.stat().st_size))
    return written
