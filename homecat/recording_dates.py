"""Recording dates, devices and families of a plain folder corpus: from the path, or from a lab's table.

Owns the table ``recording_dates``. Every folder scan brings its 'path' rows up to date: the date and start time that
``data.recording_date_regex`` finds in each rel_path (groups ``date`` and optional ``time``) and the family that
the optional ``(?P<family>...)`` group of ``data.participant_regex`` names. `homecat recordings import FILE`
writes 'table' rows (recording, date, start time, device, child, family), which win over the path.
ChildProject metadata wins over both (view ``recording_date``, sql/schema/v11.sql); ages at recording follow
in the view ``recording_ages``. Users read README.md "Recording dates, ages and families".
This module never imports typer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, time
from functools import lru_cache
from pathlib import Path

import pyarrow as pa

from homecat.catalog import Catalog, named_queries
from homecat.missing import known
from homecat.settings import DataSettings
from homecat.tables import column_options, pick_column, raise_problems, read_records

_SQL = "queries/recording_dates.sql"
# What labs write, read by one regex each (strptime costs ~0.1 ms a call: a scan reads every path each time)
_DATE_RE = re.compile(r"(\d{4})([-_.]?)(\d{2})\2(\d{2})|(\d{2})/(\d{2})/(\d{4})")
_TIME_RE = re.compile(r"(\d{2})([:h-]?)(\d{2})(?:\2(\d{2}))?")
IMPORT_KEYS = ("recording", "date", "time", "device", "child", "family")
_DEFAULT_COLUMNS = {
    "recording": ("recording", "recording_id", "recording_filename", "rel_path", "file", "filename"),
    "date": ("date", "date_iso", "recording_date"),
    "time": ("start_time", "time"),
    "device": ("device", "recording_device_type"),
    "child": ("child_id", "participant_id", "child"),
    "family": ("family_id", "family"),
}


@lru_cache(maxsize=4096)
def parse_date(text: str) -> date | None:
    """A date written as labs write them (2024-01-10, 20240110, 2024_01_10, 2024.01.10, 10/01/2024), else None."""
    match = _DATE_RE.fullmatch(text.strip())
    if not match:
        return None
    year, month, day = (match[1], match[3], match[4]) if match[1] else (match[7], match[6], match[5])
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


@lru_cache(maxsize=4096)
def parse_time(text: str) -> str | None:
    """A start time (13:05, 13:05:20, 130520, 13-05-20, 13h05) as HH:MM:SS, else None."""
    match = _TIME_RE.fullmatch(text.strip())
    if not match:
        return None
    try:
        return time(int(match[1]), int(match[3]), int(match[4] or 0)).isoformat()
    except ValueError:
        return None


@dataclass(frozen=True)
class PathFacts:
    date_iso: date | None
    start_time: str | None
    family_id: str | None


class PathReader:
    """What ``data.recording_date_regex`` and the family group of ``data.participant_regex`` find in a rel_path."""

    def __init__(self, data: DataSettings) -> None:
        self.date_re = re.compile(data.recording_date_regex) if data.recording_date_regex else None
        participant_re = re.compile(data.participant_regex)
        self.family_re = participant_re if "family" in participant_re.groupindex else None

    @property
    def reads_anything(self) -> bool:
        return self.date_re is not None or self.family_re is not None

    def facts(self, rel_path: str) -> PathFacts:
        day = start = family = None
        match = self.date_re.search(rel_path) if self.date_re else None
        if match:
            day = parse_date(match.group("date") or "")
            if day is not None and "time" in match.groupdict() and match.group("time"):
                start = parse_time(match.group("time"))
        match = self.family_re.search(rel_path) if self.family_re else None
        if match and match.group("family"):
            family = match.group("family")
        return PathFacts(day, start, family)


def store_path_dates(catalog: Catalog, data: DataSettings) -> None:
    """Bring the 'path' rows up to date (inside the caller's transaction: a scan's). A rel_path never changes, so
    its facts depend only on the two regexes: while they stay the same only new recordings are read (an unchanged
    rescan costs one query); when either changes every row is read again."""
    reader = PathReader(data)
    settings_key = f"{data.recording_date_regex or ''}\0{data.participant_regex}"
    stale = catalog.con.execute("SELECT value FROM catalog_state WHERE key = 'path_dates'").fetchone()
    if stale is None or stale[0] != settings_key:
        catalog.run(_SQL, "forget_path_dates")
        catalog.run(_SQL, "set_state", {"key": "path_dates", "value": settings_key})
    _, rows = catalog.rows(named_queries(_SQL)["unread_paths"].sql)
    if not rows:
        return
    # a row for every recording read, facts or none, so that it is not read again
    facts = [
        (rid, reader.facts(rel_path) if reader.reads_anything else PathFacts(None, None, None))
        for rid, rel_path in rows
    ]
    columns = {
        "recording_id": [rid for rid, _ in facts],
        "date_iso": [f.date_iso for _, f in facts],
        "start_time": [f.start_time for _, f in facts],
        "family_id": [f.family_id for _, f in facts],
    }
    catalog.run(_SQL, "add_path_dates", columns)


@dataclass(frozen=True)
class RecordingsImport:
    source: str
    recordings: int
    dated: int
    unknown: int  # lines naming no catalogued recording (kept out, counted)

    def rows(self) -> list[dict[str, object]]:
        return [
            {"what": "recordings imported", "count": self.recordings},
            {"what": "with a date", "count": self.dated},
            {"what": "lines naming no catalogued recording (not imported)", "count": self.unknown},
        ]


def import_recordings(
    catalog: Catalog, path: str | Path, columns: list[str] | tuple[str, ...] = ()
) -> RecordingsImport:
    """Read a recordings table (one row per recording) and replace those recordings' 'table' rows.

    A recording is named by its recording_id, its rel_path or its file name (when that is unique). Every bad
    line is reported (line number and reason) and then nothing is imported. A child that differs from the
    recording's participant (from the path) is an error: set data.participant_regex instead.
    """
    path = Path(path)
    name = path.name
    mapped = column_options(columns, IMPORT_KEYS)
    header, records = read_records(path, "recordings")
    col = {
        key: pick_column(name, header, key, mapped, _DEFAULT_COLUMNS[key], required=key == "recording")
        for key in IMPORT_KEYS
    }
    catalogued = catalog.con.execute("SELECT recording_id, rel_path, participant_id FROM recordings").fetchall()
    by_name: dict[str, list[tuple[str, str]]] = {}
    for rid, rel_path, pid in catalogued:
        for key in {rid, rel_path, rel_path.rsplit("/", 1)[-1]}:
            by_name.setdefault(key, []).append((rid, pid))
    rows: list[tuple] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    unknown = 0
    for line, values in records:
        get = {key: (values.get(c, "") if c else "") for key, c in col.items()}
        get = {key: known(v) or "" for key, v in get.items()}
        matches = sorted(set(by_name.get(get["recording"], [])))
        if not get["recording"]:
            problems.append(f"{name}: line {line}: {col['recording']} is empty.")
            continue
        if not matches:
            unknown += 1
            continue
        reasons = []
        if len(matches) > 1:
            reasons.append(f"'{get['recording']}' names {len(matches)} recordings; use their rel_path")
        rid, pid = matches[0]
        if rid in seen:
            reasons.append(f"recording '{get['recording']}' is also on line {seen[rid]}")
        day = parse_date(get["date"]) if get["date"] else None
        if get["date"] and day is None:
            reasons.append(f"{col['date']} '{get['date']}' is not a date (YYYY-MM-DD)")
        start = parse_time(get["time"]) if get["time"] else None
        if get["time"] and start is None:
            reasons.append(f"{col['time']} '{get['time']}' is not a time (HH:MM or HH:MM:SS)")
        if get["child"] and get["child"] != pid:
            reasons.append(
                f"child '{get['child']}' is not the recording's participant '{pid}' (from data.participant_regex)"
            )
        if reasons:
            problems.append(f"{name}: line {line}: {'; '.join(reasons)}.")
            continue
        seen[rid] = line
        rows.append((rid, day, start, get["device"] or None, get["child"] or None, get["family"] or None))
    raise_problems(name, problems)
    table = pa.table(
        {
            "recording_id": pa.array([r[0] for r in rows], pa.string()),
            "date_iso": pa.array([r[1] for r in rows], pa.date32()),
            "start_time": pa.array([r[2] for r in rows], pa.string()),
            "device": pa.array([r[3] for r in rows], pa.string()),
            "child_id": pa.array([r[4] for r in rows], pa.string()),
            "family_id": pa.array([r[5] for r in rows], pa.string()),
        }
    )
    with catalog.transaction() as con:
        con.register("_table_dates", table)
        try:
            catalog.run(_SQL, "forget_table_dates")
            catalog.run(_SQL, "add_table_dates", {"source": name})
        finally:
            con.unregister("_table_dates")
    return RecordingsImport(name, len(rows), sum(r[1] is not None for r in rows), unknown)
