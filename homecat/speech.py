"""Speech rows in and out: RTTM import and export, the activity report and a recording's timeline.

RTTM lines are ``SPEAKER file-id channel onset duration <NA> <NA> label <NA> <NA>`` (the voice
type classifier writes classes such as KCHI, CHI, FEM, MAL, SPEECH; pyannote writes speakers).
On import the file-id names a recording (``RecordingIndex.named``): its rel_path, else the one
recording whose ``recording_id`` or file stem it is. Tools such as the voice type classifier write
the audio file's stem, so when files in several folders share a stem (P01/day1.wav, P02/day1.wav)
the file-id ``day1`` is ambiguous even though scan gave one of them the id ``day1`` (the others
``day1-<hash>``): which file kept the bare stem says nothing about which one the RTTM describes, so
such a line is an error listing the candidates' rel_paths (write the rel_path of the one meant),
whereas an id no other file's stem equals (``day1-<hash>``) is unambiguous. The label becomes
``label`` and the source is the file's stem (or ``--source``); every bad line is named with its
number and then nothing is imported.

Export writes the ``recording_id`` as the file-id: the file's stem (with a hash on a collision),
which may name a family or participant. RTTM fields are separated by whitespace and the format has
no escape, so a recording whose id holds whitespace cannot be exported (pyannote refuses such URIs too).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple, TextIO

import numpy as np
import pyarrow as pa

from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError
from homecat.its import SPEECH_TYPES, part_problems, read_its, store_clock
from homecat.segments import UNKNOWN_RECORDING, Candidate, Problem, RecordingIndex, check_candidate, problem_lines
from homecat.segments_export import rttm_times
from homecat.settings import CropSettings

_RTTM_FIELDS = "SPEAKER file-id channel onset duration <NA> <NA> label <NA> <NA>"
VAD_SOURCE = "silero"  # the source of `homecat vad`'s rows: no import may take it
_SQL = "queries/vad.sql"


class SpeechRow(NamedTuple):
    """One speech (or voice-type) turn of a recording, in seconds from its start."""

    recording_id: str
    start_sec: float
    end_sec: float
    label: str


# --------------------------------------------------------------------------- storing (this module owns `speech`)


def store_speech(
    catalog: Catalog, source: str, rows: Iterable[SpeechRow], recording_ids: Iterable[str] | None = None
) -> int:
    """Replace the rows of ``source`` (only those of ``recording_ids`` when given) by ``rows``, in ONE
    transaction; return how many were stored. Times are rounded to the millisecond."""
    rows = list(rows)
    with catalog.transaction():
        return replace_speech(catalog, source, rows, None if recording_ids is None else list(recording_ids))


def replace_speech(
    catalog: Catalog, source: str, rows: list[SpeechRow] | pa.Table, recording_ids: list[str] | None
) -> int:
    """``store_speech`` inside the caller's transaction; ``rows`` may be ``speech_table``'s, built before it."""
    con = catalog.con
    batch = rows if isinstance(rows, pa.Table) else speech_table(source, rows)
    if recording_ids is None:
        catalog.run(_SQL, "forget_speech_source", {"source": source})
    else:
        outside = set(batch.column("recording_id").unique().to_pylist()) - set(recording_ids)
        if outside:
            raise HomecatError(
                f"Speech rows of source '{source}' name recording {sorted(outside)[0]}, which is not among "
                "the recordings being replaced."
            )
        con.register("replaced_ids", pa.table({"recording_id": pa.array(recording_ids, pa.string())}))
        catalog.run(_SQL, "forget_speech_of", {"source": source})
        con.unregister("replaced_ids")
    if not batch.num_rows:
        return 0
    con.register("speech_batch", batch)
    catalog.run(_SQL, "add_speech")
    con.unregister("speech_batch")
    return batch.num_rows


def speech_table(source: str, rows: list[SpeechRow]) -> pa.Table:
    """``rows`` checked and in the columns of ``speech``, times rounded to the millisecond. An import builds it
    before its transaction: for 300,000 rows that is a second the catalog is not held on a busy machine."""
    starts = np.round(np.array([r.start_sec for r in rows], np.float64), 3)
    ends = np.round(np.array([r.end_sec for r in rows], np.float64), 3)
    bad = np.flatnonzero(~(np.isfinite(starts) & np.isfinite(ends) & (starts >= 0) & (ends >= starts)))
    if len(bad):
        row = rows[int(bad[0])]
        raise HomecatError(
            f"A speech row of recording {row.recording_id} runs from {row.start_sec} s to {row.end_sec} s: "
            "times must be finite, not negative, and end at or after the start."
        )
    return pa.table(
        {
            "recording_id": pa.array([r.recording_id for r in rows], pa.string()),
            "start_sec": pa.array(starts),
            "end_sec": pa.array(ends),
            "source": pa.array([source] * len(rows), pa.string()),
            "label": pa.array([r.label for r in rows], pa.string()),
        }
    )


@dataclass
class ImportSummary:
    """What one `homecat vad import` stored."""

    by_source: dict[str, tuple[int, int]] = field(default_factory=dict)  # source -> (rows, recordings)
    skipped_lines: int = 0  # other RTTM types (SPKR-INFO, …) and zero-length turns
    invalid_rows: int = 0  # bad rows skipped with skip_invalid (findings 'invalid_speech_row')

    def rows(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = [
            {"source": source, "rows": n, "recordings": m} for source, (n, m) in sorted(self.by_source.items())
        ]
        return out


def read_rttm(path: Path, index: RecordingIndex):
    """Rows of one RTTM file and a sentence for every bad line (with its number)."""
    rows: list[SpeechRow] = []
    errors: list[str] = []
    skipped = 0
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")  # a BOM (Windows editors) is not part of the first turn
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path} cannot be read as UTF-8 text ({exc})."], 0
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")):
            continue
        where = f"{name}, line {number}"
        if fields[0] != "SPEAKER":
            skipped += 1  # SPKR-INFO, LEXEME, …: not turns
            continue
        if len(fields) not in (9, 10):
            errors.append(f"{where}: expected 10 fields ({_RTTM_FIELDS}), found {len(fields)}.")
            continue
        file_id, onset_text, duration_text, label = fields[1], fields[3], fields[4], fields[7]
        try:
            onset, duration = float(onset_text), float(duration_text)
        except ValueError:
            errors.append(f"{where}: onset '{onset_text}' and duration '{duration_text}' must be numbers (seconds).")
            continue
        if not (math.isfinite(onset) and math.isfinite(duration)) or onset < 0:
            errors.append(f"{where}: onset {onset_text} must be a finite number of seconds, not negative.")
            continue
        if duration < 0:
            errors.append(f"{where}: duration {duration_text} is negative.")
            continue
        matches = index.named(file_id)
        if len(matches) != 1:
            if matches:
                rel_paths = ", ".join(sorted(r.rel_path for r in matches))
                errors.append(
                    f"{where}: file-id '{file_id}' names several recordings ({rel_paths}); "
                    "write the rel_path of the one meant as the file-id."
                )
            else:
                errors.append(
                    f"{where}: file-id '{file_id}' matches no recording (give a rel_path, recording_id or a unique file name or stem)."
                )
            continue
        if duration == 0:
            skipped += 1
            continue
        recording_id, length = matches[0].recording_id, matches[0].duration_sec
        end = round(round(onset, 3) + round(duration, 3), 3)
        if length is not None and end > length + 0.01:  # 10 ms: RTTM writers round
            errors.append(
                f"{where}: the turn ends at {end:.3f} s, past the end of recording {recording_id} ({length:.3f} s)."
            )
            continue
        rows.append(SpeechRow(recording_id, round(onset, 3), min(end, length) if length is not None else end, label))
    return rows, errors, skipped


def import_rttm(
    catalog: Catalog, files: Sequence[str | Path], source: str | None = None, skip_invalid: bool = False
) -> ImportSummary:
    """Load RTTM files into ``speech``: source = ``source`` or each file's stem, label = the RTTM label.

    Every file is checked first; any bad line (all are named, with line numbers) means nothing is
    imported, unless ``skip_invalid``: then each bad line becomes a finding (``store_skipped``) and the
    other lines are imported. Then, in one transaction, each source's rows are replaced for the
    recordings its files name.
    """
    if not files:
        raise HomecatError("Name at least one RTTM file to import.")
    if source is not None and not source.strip():
        raise HomecatError("--source must not be empty.")
    index = RecordingIndex.load(catalog)
    by_source: dict[str, list[SpeechRow]] = {}
    errors: list[str] = []
    skipped: dict[str, list[tuple[str | None, str]]] = {}  # file name -> (recording_id, message) of bad lines
    summary = ImportSummary()
    for file in files:
        path = Path(file)
        if not path.is_file():
            errors.append(f"{path} does not exist.")
            continue
        name = source or path.stem
        if name == VAD_SOURCE:
            errors.append(
                f"{path}: the source name '{VAD_SOURCE}' belongs to 'homecat vad'; choose another with --source."
            )
            continue
        file_rows, file_errors, skipped_lines = read_rttm(path, index)
        # a clean import clears the findings an earlier --skip-invalid import of this file left
        skipped[path.name] = _rttm_skipped(path, file_errors, index) if skip_invalid else []
        if not skip_invalid:
            errors += file_errors
        summary.skipped_lines += skipped_lines
        by_source.setdefault(name, []).extend(file_rows)
    if errors:
        raise HomecatError(f"Nothing was imported: {len(errors)} problem(s) in the RTTM input.", *errors)
    # built before the transaction takes the catalog file
    tables = {
        name: (speech_table(name, rows), sorted({r.recording_id for r in rows})) for name, rows in by_source.items()
    }
    with catalog.transaction():
        for name, (table, ids) in tables.items():
            replace_speech(catalog, name, table, ids)
            summary.by_source[name] = (table.num_rows, len(ids))
        summary.invalid_rows = store_skipped(catalog, skipped)
    return summary


INVALID_ROW_CODE = "invalid_speech_row"
IMPORT_STAGE = "vad import"


def store_skipped(catalog: Catalog, skipped: dict[str, list[tuple[str | None, str]]]) -> int:
    """Replace the findings of each imported file (by name) by its skipped rows' (recording_id, message)."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    for name, problems in skipped.items():
        catalog.run(_SQL, "forget_skipped_rows", {"stage": IMPORT_STAGE, "code": INVALID_ROW_CODE, "name": name})
        if problems:
            catalog.run_many(
                _SQL,
                "add_skipped_row",
                [[rid or UNKNOWN_RECORDING, INVALID_ROW_CODE, message, IMPORT_STAGE, now] for rid, message in problems],
            )
    return sum(len(problems) for problems in skipped.values())


def _rttm_skipped(path: Path, errors: list[str], index: RecordingIndex) -> list[tuple[str | None, str]]:
    """(recording_id, message) of each bad RTTM line: the recording its file-id names, when exactly one."""
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    out = []
    for message in errors:
        match = re.match(rf"{re.escape(path.name)}, line (\d+):", message)
        fields = lines[int(match[1]) - 1].split() if match else []
        named = index.named(fields[1]) if len(fields) > 1 else []
        out.append((named[0].recording_id if len(named) == 1 else None, message))
    return out


def import_its(
    catalog: Catalog,
    files: Sequence[str | Path],
    recording: str | None = None,
    source: str | None = None,
    skip_invalid: bool = False,
) -> ImportSummary:
    """Load the voices of LENA .its files into ``speech``: one row per segment whose speaker type is in
    ``SPEECH_TYPES`` (label: the type), source ``source`` or the file's stem; the clock times too.

    A file belongs to the recording whose id or file stem is its stem, or to ``recording``. Segments are
    checked as `segments import` checks intervals; all or nothing unless ``skip_invalid``.
    """
    index = RecordingIndex.load(catalog)
    errors: list[str] = []
    bad = 0  # files that cannot be read or matched, and invalid segments
    plans = []
    for file in files:
        path = Path(file)
        try:
            its = read_its(path)
            info = index.for_annotation_file(path, recording)
        except HomecatError as exc:
            errors += exc.lines
            bad += 1
            continue
        if clock_problems := part_problems(path.name, its.parts, info.duration_sec, info.rel_path):
            errors += clock_problems
            bad += len(clock_problems)
        name = source or path.stem
        rows: list[SpeechRow] = []
        problems: list[Problem] = []
        for segment in its.segments:
            if segment.speaker not in SPEECH_TYPES:
                continue
            candidate = Candidate(segment.where, info.recording_id, segment.start, segment.end, segment.speaker)
            result = check_candidate(candidate, index)
            if isinstance(result, Problem):
                problems.append(result)
            else:
                rows.append(SpeechRow(result.recording_id, result.start_sec, result.end_sec, result.label))
        if problems and not skip_invalid:
            errors += problem_lines(path.name, problems, "segments")
            bad += len(problems)
        plans.append((path, name, info.recording_id, rows, problems, its.parts))
    if errors:
        raise HomecatError(f"Nothing was imported: {bad} problem(s) in the .its input.", *errors)
    summary = ImportSummary()
    with catalog.transaction():
        for path, name, recording_id, rows, _, parts in plans:
            replace_speech(catalog, name, rows, [recording_id])
            store_clock(catalog, recording_id, path.name, parts)
            done, recordings = summary.by_source.get(name, (0, 0))
            summary.by_source[name] = (done + len(rows), recordings + 1)
        summary.invalid_rows = store_skipped(
            catalog,
            {path.name: [(p.recording_id, p.message(path.name)) for p in problems] for path, *_, problems, _ in plans},
        )
    return summary


def export_rttm(catalog: Catalog, out: TextIO, sources: Sequence[str] = ()) -> int:
    """Write speech rows as RTTM; returns the number of lines.

    The file-id is the recording_id (the file's stem, which may name a family); an id with whitespace
    would split into extra fields, so then nothing is written.
    """
    query = named_queries(_SQL)["speech_rows"].sql
    _, rows = catalog.rows(query, {"sources": list(sources)})
    spaced = next((row[0] for row in rows if re.search(r"\s", row[0])), None)
    if spaced is not None:
        raise HomecatError(
            f"Recording '{spaced}' cannot be exported as RTTM: its id holds whitespace, which RTTM's "
            "space-separated file-id cannot (rename the file without spaces and run 'homecat scan')."
        )
    for recording_id, start_sec, end_sec, _, label in rows:
        label = re.sub(r"\s+", "_", label) or "<NA>"  # one RTTM field
        onset, duration = rttm_times(start_sec, end_sec)
        out.write(f"SPEAKER {recording_id} 1 {onset} {duration} <NA> <NA> {label} <NA> <NA>\n")
    return len(rows)


# --------------------------------------------------------------------------- activity report and plots


def activity_params(crops: CropSettings) -> dict[str, Any]:
    """Parameters of the ``activity`` report: the crop policy's speech rows and part weights."""
    weights = crops.policy_weights if crops.crop_policy == "mixture" else {crops.crop_policy: 1.0}
    total = sum(weights.values())
    return {
        "speech_source": crops.speech_source,
        "speech_labels": list(crops.speech_labels),
        "crop_sec": crops.crop_sec,
        **{f"w_{part}": weights.get(part, 0.0) / total for part in ("speech", "energy", "uniform")},
    }


@dataclass
class Timeline:
    """One recording's window levels and speech turns (all sources and labels)."""

    recording_id: str
    rel_path: str
    duration_sec: float
    window_sec: float
    threshold_dbfs: float | None
    rms_dbfs: Any  # numpy float32, one per window
    turns: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # "source/label" -> turns
    # (part, start_sec, end_sec, UTC start, minutes from UTC to local time or None)
    clock: list[tuple[int, float, float, datetime, int | None]] = field(default_factory=list)

    def rows(self) -> list[dict[str, object]]:
        active = (
            float((self.rms_dbfs >= self.threshold_dbfs).sum()) * self.window_sec
            if self.threshold_dbfs is not None
            else 0.0
        )
        out: list[dict[str, object]] = [
            {
                "lane": "energy-active windows",
                "turns": None,
                "hours": round(active / 3600, 4),
                "share": round(active / self.duration_sec, 4) if self.duration_sec else None,
            }
        ]
        for lane, turns in sorted(self.turns.items()):
            sec = union_sec(turns)  # an annotated tier's lane may hold overlapping events; time counts once
            out.append(
                {
                    "lane": lane,
                    "turns": len(turns),
                    "hours": round(sec / 3600, 4),
                    "share": round(sec / self.duration_sec, 4) if self.duration_sec else None,
                }
            )
        for (
            part,
            start_sec,
            end_sec,
            start_clock,
            offset_min,
        ) in self.clock:  # the time of day, where a recorder wrote it
            local = ""
            if offset_min is not None:
                sign, hours, minutes = "+-"[offset_min < 0], abs(offset_min) // 60, abs(offset_min) % 60
                local = (
                    f" ({start_clock + timedelta(minutes=offset_min):%H:%M} local, UTC{sign}{hours:02d}:{minutes:02d})"
                )
            out.append(
                {
                    "lane": f"part {part} from {start_sec:.0f} s began {start_clock:%Y-%m-%d %H:%M:%S} UTC{local}",
                    "turns": None,
                    "hours": round((end_sec - start_sec) / 3600, 4),
                    "share": round((end_sec - start_sec) / self.duration_sec, 4) if self.duration_sec else None,
                }
            )
        return out


def union_sec(turns: list[tuple[float, float]]) -> float:
    """Seconds covered by ``turns`` (start, end), overlaps counted once."""
    covered, reach = 0.0, float("-inf")
    for start, end in sorted(turns):
        if end > reach:
            covered += end - max(start, reach)
            reach = end
    return covered


# An annotated tier with more labels than this (words, transcriptions) is one lane, not a lane per label.
_LANES_PER_TIER = 8


def timeline(catalog: Catalog, rel_path: str, tolerance_sec: float = 0.01) -> Timeline:
    """Levels, speech and annotated segments of the recording with this rel_path (or recording_id); no audio
    is read. Segments become lanes 'annotated TIER/LABEL' (or 'annotated TIER' for a tier of many labels), the
    same event from several files once (``tolerance_sec``: segments.duplicate_tolerance_sec)."""
    queries = named_queries(_SQL)
    _, found = catalog.rows(queries["timeline_recording"].sql, {"name": rel_path})
    if not found:
        raise HomecatError(
            f"No validated recording has the rel_path or recording_id '{rel_path}' (see 'homecat report silence')."
        )
    recording_id, rel, duration_sec, window_sec, threshold = found[0]
    by_id = {"recording_id": recording_id}
    levels = catalog.con.execute(queries["timeline_levels"].sql, by_id).fetchnumpy()["rms_dbfs"]
    turns: dict[str, list[tuple[float, float]]] = {}
    _, rows = catalog.rows(queries["timeline_turns"].sql, by_id)
    for lane, start, end in rows:
        turns.setdefault(lane, []).append((start, end))
    _, segments = catalog.rows(queries["timeline_segments"].sql, {**by_id, "tolerance_sec": tolerance_sec})
    labels: dict[str, set[str]] = {}
    for tier, label, _, _ in segments:
        labels.setdefault(tier, set()).add(label)
    for tier, label, start, end in segments:
        lane = f"annotated {tier}/{label}" if len(labels[tier]) <= _LANES_PER_TIER else f"annotated {tier}"
        turns.setdefault(lane, []).append((start, end))
    _, clock = catalog.rows(queries["timeline_clock"].sql, by_id)
    return Timeline(recording_id, rel, duration_sec, window_sec, threshold, levels, turns, clock)
