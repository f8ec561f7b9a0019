"""`homecat segments export`: segments written back as annotation files, one per recording, for checking
them in ELAN (.eaf, pympi-ling), Praat (.TextGrid, praatio) or RTTM tools (pyannote's reader).

Files are named by the recording's rel_path with the format's extension, folders kept
(``FAM01/child1/2024-01-10.eaf``): files of different families never collide and say whose they are, and
`homecat segments import` (EAF by its media link, TextGrid by its path) and `homecat vad import` (RTTM, by
the file-id inside) match them to their recording again. One event imported from several
files is written once. A tier (the segments' ``tier``, or 'segments' when it has none) becomes one
or more tiers: ELAN and Praat tiers cannot hold overlapping intervals, so an interval that overlaps an
earlier one goes to the next lane ``<tier> 2``, ``<tier> 3``…, the first lane where it fits. An EAF
links the recording's audio (its absolute path), so ELAN opens it; RTTM lines carry the label as the
speaker field. Each file is written under a temporary name and renamed (``homecat.outputs``). This module never imports typer.
"""

from __future__ import annotations

import mimetypes
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path

from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError
from homecat.missing import label_problem
from homecat.outputs import output_folder, replacing

FORMATS = {"rttm": ".rttm", "eaf": ".eaf", "textgrid": ".TextGrid"}
DEFAULT_TIER = "segments"


@dataclass(frozen=True)
class Interval:
    start_sec: float
    end_sec: float
    label: str


def lanes(tier: str, intervals: Sequence[Interval]) -> dict[str, list[Interval]]:
    """Split a tier's intervals (in start order) into non-overlapping lanes named tier, 'tier 2', ..."""
    ends: list[float] = []
    out: list[list[Interval]] = []
    for interval in intervals:
        lane = next((i for i, end in enumerate(ends) if end <= interval.start_sec + 1e-9), None)
        if lane is None:
            ends.append(interval.end_sec)
            out.append([interval])
        else:
            ends[lane] = interval.end_sec
            out[lane].append(interval)
    return {tier if i == 0 else f"{tier} {i + 1}": rows for i, rows in enumerate(out)}


def export_segments(
    catalog: Catalog, directory: str | os.PathLike, fmt: str, sources: Sequence[str] = (), tolerance_sec: float = 0.01
) -> list[Path]:
    """Write one annotation file per recording with segments; return the files written."""
    if fmt not in FORMATS:
        raise HomecatError(f"Unknown format '{fmt}'; formats: {', '.join(FORMATS)}.")
    query = named_queries("queries/segments.sql")["export_segments"].sql
    _, rows = catalog.rows(query, {"sources": list(sources), "tolerance_sec": tolerance_sec})
    if not rows:
        which = f" of source {', '.join(sources)}" if sources else ""
        raise HomecatError(f"There are no segments{which} to export: run 'homecat segments import' first.")
    if fmt == "rttm":
        spaced = next((row[0] for row in rows if re.search(r"\s", row[0])), None)
        if spaced is not None:
            raise HomecatError(
                f"Recording '{spaced}' cannot be exported as RTTM: its id holds whitespace, which RTTM's "
                "space-separated file-id cannot (nothing was written)."
            )
    if fmt in ("eaf", "textgrid"):  # labels stored before import refused them: XML cannot hold them
        for row in rows:
            why = label_problem(row[5]) or label_problem(row[6] or "", "tier name")
            if why:
                raise HomecatError(
                    f"A segment of {row[0]} at {row[3]:.3f}-{row[4]:.3f} s cannot be exported: {why}; import its "
                    "file again (homecat now refuses such labels) and export (nothing was written)."
                )
    directory = output_folder(directory)
    written = []
    for recording_id, group in groupby(rows, key=lambda row: row[0]):
        group = list(group)
        path, duration_sec = group[0][1], group[0][2]
        tiers: dict[str, list[Interval]] = {}
        for tier, items in groupby(group, key=lambda row: row[6] or DEFAULT_TIER):
            tiers.update(lanes(tier, [Interval(r[3], r[4], r[5]) for r in items]))
        target = _target(directory, group[0][7], recording_id, FORMATS[fmt])
        with replacing(target) as partial:
            if fmt == "rttm":
                _write_rttm(partial, recording_id, tiers)
            elif fmt == "eaf":
                _write_eaf(partial, path, tiers)
            else:
                _write_textgrid(partial, duration_sec, tiers)
        written.append(target)
    return written


def _target(directory: Path, rel_path: str, recording_id: str, ext: str) -> Path:
    """``directory``/rel_path with ``ext`` for its suffix, its folders made; a rel_path that would leave
    the folder (absolute, '..', or a linked subfolder pointing elsewhere) gives ``<recording_id><ext>``."""
    relative = Path(rel_path).with_suffix(ext)
    if not relative.is_absolute() and ".." not in relative.parts:
        target = directory / relative
        folder = output_folder(target.parent)
        if folder.resolve().is_relative_to(directory.resolve()):
            return target
    return directory / f"{recording_id}{ext}"


def rttm_times(start_sec: float, end_sec: float) -> tuple[str, str]:
    """RTTM's onset and duration fields for an interval, to the millisecond, such that onset + duration is
    the end rounded to the millisecond: both ends are rounded first and the duration is their difference
    (rounding start and duration separately could move the end by a millisecond: 5.20975 read back as 5.209)."""
    start_ms, end_ms = round(start_sec * 1000), round(end_sec * 1000)
    return f"{start_ms / 1000:.3f}", f"{(end_ms - start_ms) / 1000:.3f}"


def _write_rttm(target: Path, recording_id: str, tiers: dict[str, list[Interval]]) -> None:
    turns = sorted((i for rows in tiers.values() for i in rows), key=lambda i: (i.start_sec, i.end_sec, i.label))
    with open(target, "w", encoding="utf-8") as f:
        for i in turns:
            label = re.sub(r"\s+", "_", i.label)
            start, duration = rttm_times(i.start_sec, i.end_sec)
            f.write(f"SPEAKER {recording_id} 1 {start} {duration} <NA> <NA> {label} <NA> <NA>\n")


def _write_eaf(target: Path, audio_path: str, tiers: dict[str, list[Interval]]) -> None:
    import pympi

    eaf = pympi.Elan.Eaf(author="homecat segments export")
    eaf.add_linked_file(Path(audio_path).as_uri(), mimetype=mimetypes.guess_type(audio_path)[0] or "audio/x-wav")
    for name, rows in tiers.items():
        eaf.add_tier(name)
        for i in rows:
            eaf.add_annotation(name, round(i.start_sec * 1000), round(i.end_sec * 1000), i.label)
    if "default" not in tiers:  # pympi starts every file with an empty tier of that name
        eaf.remove_tier("default")
    target.write_bytes(b'<?xml version="1.0" encoding="UTF-8"?>\n' + pympi.Elan.to_string(eaf, encoding="UTF-8"))


def _write_textgrid(target: Path, duration_sec: float, tiers: dict[str, list[Interval]]) -> None:
    from praatio import textgrid

    end = max([duration_sec] + [i.end_sec for rows in tiers.values() for i in rows])
    grid = textgrid.Textgrid()
    for name, rows in tiers.items():
        entries = [(i.start_sec, i.end_sec, i.label) for i in rows]
        grid.addTier(textgrid.IntervalTier(name, entries, 0.0, end))
    grid.save(str(target), format="long_textgrid", includeBlankSpaces=True)
