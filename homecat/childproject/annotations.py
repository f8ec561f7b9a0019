"""An annotation set of a ChildProject dataset into ``segments`` or ``speech``.

annotations.csv's rows of the set name the converted CSVs (``segment_onset``/``segment_offset`` in
ms from the recording's start) and the annotated range of each (``range_onset``/``range_offset``):
rows outside it are dropped, rows across its edge clipped, and the ranges stored in
``annotated_ranges``. All or nothing: any problem stops the import before anything is written.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

from homecat.catalog import Catalog, named_queries
from homecat.childproject.metadata import (
    METADATA,
    MetadataError,
    check_dataset,
    csv_error,
    csv_rows,
    inside_dataset,
    known_value,
    not_utf8,
    problem_at,
)
from homecat.errors import ConfigError, HomecatError
from homecat.missing import is_missing

ANNOTATIONS_REQUIRED = ("set", "recording_filename", "range_onset", "range_offset", "annotation_filename")
SEGMENTS_REQUIRED = ("segment_onset", "segment_offset")
SPEECH_LABEL_COLUMN = "speaker_type"  # the voice type classifier's column: CHI, OCH, FEM, MAL, SPEECH
END_TOLERANCE_SEC = 0.01  # turns may end this far past the recording's end (writers round); clipped to it
_SQL = "queries/childproject.sql"


class _Turn(NamedTuple):
    recording_id: str
    start_sec: float
    end_sec: float
    label: str
    file: str  # the annotation_filename, for messages: "C01/rec1_0_3000.csv line 4"
    line: int


@dataclass
class AnnotationImport:
    """What one import of an annotation set did."""

    target: str  # 'segments' or 'speech'
    source: str
    annotation_rows: int = 0  # rows of metadata/annotations.csv for the set
    imported: int = 0
    annotated_sec: float = 0.0
    empty_label: int = 0
    outside_range: int = 0
    clipped_to_range: int = 0
    zero_length: int = 0
    not_catalogued: int = 0  # annotation rows of recordings the catalog does not list (discarded, ...)
    no_audio: int = 0  # annotation rows of recordings without readable audio (missing, not fetched, ...)
    not_converted: int = 0  # annotation rows ChildProject failed to import (no annotation_filename)
    range_past_end: int = 0  # annotation rows whose range_onset is at or past the end of the recording's audio
    skipped_invalid: int = 0
    label_column: str = SPEECH_LABEL_COLUMN
    turns: list[_Turn] = field(default_factory=list, repr=False)
    ranges: list[tuple[str, float, float]] = field(default_factory=list, repr=False)

    def rows(self) -> list[dict[str, object]]:
        what = "segments" if self.target == "segments" else "speech rows"
        return [
            {"what": f"source ({self.target} table)", "count": self.source},
            {"what": "annotation files (rows of metadata/annotations.csv)", "count": self.annotation_rows},
            {"what": f"{what} imported", "count": self.imported},
            {"what": "annotated hours (range_onset to range_offset)", "count": round(self.annotated_sec / 3600, 3)},
            *(
                [{"what": f"rows with an empty {self.label_column} (skipped)", "count": self.empty_label}]
                if self.target == "speech"
                else []
            ),
            {"what": "rows outside the annotated range (dropped)", "count": self.outside_range},
            {"what": "rows clipped to the annotated range", "count": self.clipped_to_range},
            {"what": "rows of zero length (skipped)", "count": self.zero_length},
            {
                "what": "files of recordings not in the catalog (discarded or unlisted; skipped)",
                "count": self.not_catalogued,
            },
            {"what": "files of recordings without readable audio (skipped)", "count": self.no_audio},
            {
                "what": "files ChildProject did not convert (no annotation_filename; skipped)",
                "count": self.not_converted,
            },
            *(
                [
                    {
                        "what": "files whose range starts at or after the recording's end (skipped)",
                        "count": self.range_past_end,
                    }
                ]
                if self.range_past_end
                else []
            ),
            *(
                [{"what": "invalid rows (skipped, see report findings)", "count": self.skipped_invalid}]
                if self.skipped_invalid
                else []
            ),
        ]


def segments_source(set_name: str, label_column: str) -> str:
    """The segments table's source of a set imported with one label column (each column is kept apart)."""
    return f"childproject:{set_name}:{label_column}"


def speech_source(set_name: str) -> str:
    return f"childproject:{set_name}"


def import_segments(
    catalog: Catalog,
    dataset: Path,
    set_name: str,
    label_column: str = SPEECH_LABEL_COLUMN,
    skip_invalid: bool = False,
) -> AnnotationImport:
    """An annotation set into ``segments`` (tier = the label column); replaces its earlier import."""
    from homecat.segments import Candidate, RecordingIndex, check_candidates, problem_lines, store_segments

    result = _read_set(catalog, dataset, set_name, label_column, "segments", segments_source(set_name, label_column))
    candidates = [
        Candidate(f"{t.file} line {t.line}", t.recording_id, t.start_sec, t.end_sec, t.label, label_column)
        for t in result.turns
    ]
    checked = check_candidates(candidates, RecordingIndex.load(catalog), result.source)
    if checked.problems and not skip_invalid:
        raise HomecatError(*problem_lines(result.source, checked.problems))
    result.imported = store_segments(catalog, result.source, checked.rows, skipped=checked.problems)
    result.skipped_invalid = len(checked.problems)
    _store_ranges(catalog, result)
    return result


def import_speech(catalog: Catalog, dataset: Path, set_name: str) -> AnnotationImport:
    """An annotation set into ``speech`` (label = speaker_type), so a voice-type set can drive the
    crop policy; replaces its earlier import."""
    from homecat.speech import SpeechRow, store_speech

    result = _read_set(catalog, dataset, set_name, SPEECH_LABEL_COLUMN, "speech", speech_source(set_name))
    rows = sorted({SpeechRow(t.recording_id, t.start_sec, t.end_sec, t.label) for t in result.turns})
    result.imported = store_speech(catalog, result.source, rows)
    _store_ranges(catalog, result)
    return result


def _read_set(
    catalog: Catalog, dataset: Path | None, set_name: str, label_column: str, target: str, source: str
) -> AnnotationImport:
    """Every turn of the set, in seconds, inside its annotated ranges; raise naming the first problem."""
    dataset = check_dataset(dataset)
    index_path = dataset / METADATA / "annotations.csv"
    if not index_path.is_file():
        raise ConfigError(f"{index_path} does not exist: the dataset has no annotation sets.")
    _, rows = catalog.rows(_query("annotation_targets"))
    targets = {name: (rid, status, duration) for name, rid, status, duration in rows}
    if not targets:
        raise HomecatError(
            f"The catalog {catalog.path} lists no ChildProject recordings: run 'homecat scan --childproject {dataset}' first."
        )
    result = AnnotationImport(target, source, label_column=label_column)
    converted_root = dataset / "annotations" / set_name / "converted"
    problems: list[str] = []
    sets: set[str] = set()
    for line, row in csv_rows(index_path, ANNOTATIONS_REQUIRED):
        sets.add(row["set"])
        if row["set"] != set_name:
            continue
        result.annotation_rows += 1
        if known_value(row["annotation_filename"]) is None:
            result.not_converted += 1
            continue
        converted = converted_root / row["annotation_filename"]
        if not inside_dataset(dataset, converted):  # '../../x.csv', '/etc/passwd' or a link out: never read
            problems.append(
                problem_at(
                    index_path,
                    line,
                    "annotation_filename",
                    f"'{row['annotation_filename']}' is not a path inside annotations/{set_name}/converted/",
                )
            )
            continue
        onset = _milliseconds(row["range_onset"], index_path, line, "range_onset", problems)
        offset = _milliseconds(row["range_offset"], index_path, line, "range_offset", problems)
        target_row = targets.get(row["recording_filename"])
        if target_row is None:
            result.not_catalogued += 1
            continue
        recording_id, status, duration = target_row
        if status != "ok" or duration is None:
            result.no_audio += 1
            continue
        if onset is None or offset is None:
            continue
        if offset <= onset:
            problems.append(
                problem_at(index_path, line, "range_offset", f"{offset} ms is not after range_onset {onset} ms")
            )
            continue
        if onset / 1000 >= duration:  # annotates audio that is not there (a shorter file than annotated)
            result.range_past_end += 1
            continue
        # an annotated range cannot cover audio that is not there
        result.ranges.append((recording_id, onset / 1000, min(offset / 1000, duration)))
        _read_converted(
            converted,
            row["annotation_filename"],
            dataset,
            label_column,
            recording_id,
            onset,
            offset,
            duration,
            target,
            result,
            problems,
        )
    if result.annotation_rows == 0:
        raise HomecatError(
            f"{index_path} has no rows of the set '{set_name}' (sets: {', '.join(sorted(sets)) or 'none'})."
        )
    if problems:
        more = f" ({len(problems) - 1} more problems after this one)" if len(problems) > 1 else ""
        raise MetadataError(f"{problems[0]}{more}; nothing was imported.")
    result.annotated_sec = sum(end - start for _, start, end in result.ranges)
    return result


def _read_converted(
    path: Path,
    file: str,  # its annotation_filename
    dataset: Path,
    label_column: str,
    recording_id: str,
    onset_ms: int,
    offset_ms: int,
    duration: float,
    target: str,
    result: AnnotationImport,
    problems: list[str],
) -> None:
    shown = path.relative_to(dataset).as_posix()
    if not path.is_file():
        if path.is_symlink():
            problems.append(
                f"{shown} is a git-annex link whose content is not here: in {dataset} run 'datalad get {shown}' "
                f"(or 'git annex get {shown}')"
            )
        else:
            problems.append(f"{path} does not exist (metadata/annotations.csv names it)")
        return
    try:
        data = path.read_bytes()
    except OSError as error:  # no permission, a folder, a failing disk: one more problem of the set
        problems.append(f"{path} cannot be read ({error.strerror or error})")
        return
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        problems.append(not_utf8(path, data, error))
        return
    reader = csv.reader(io.StringIO(text, newline=""))  # not DictReader: a dict per row is most of the cost
    try:
        columns = [c.strip() for c in next(reader, [])]
        missing = [c for c in (*SEGMENTS_REQUIRED, label_column) if c not in columns]
        if missing:
            problems.append(f"{path}: line 1 (the header) has no column '{missing[0]}' (columns: {', '.join(columns)})")
            return
        at_onset, at_offset, at_label = (columns.index(c) for c in (*SEGMENTS_REQUIRED, label_column))
        width = max(at_onset, at_offset, at_label) + 1
        for values in reader:
            line = reader.line_num
            if len(values) < width:
                if any(v.strip() for v in values):
                    problems.append(f"{path} line {line}: the row has {len(values)} fields, not {len(columns)}")
                continue
            start = _milliseconds(values[at_onset].strip(), path, line, "segment_onset", problems)
            end = _milliseconds(values[at_offset].strip(), path, line, "segment_offset", problems)
            label = values[at_label].strip()
            if start is None or end is None:
                continue
            if target == "speech" and is_missing(label):  # a segment's missing label is an invalid row (checked later)
                result.empty_label += 1
                continue
            if end <= onset_ms or start >= offset_ms:
                result.outside_range += 1
                continue
            if start < onset_ms or end > offset_ms:
                result.clipped_to_range += 1
                start, end = max(start, onset_ms), min(end, offset_ms)
            if end <= start:
                result.zero_length += 1
                continue
            start_sec, end_sec = start / 1000, end / 1000
            if target == "speech":  # the speech table has no checker of its own: the rule of RTTM import
                if end_sec > duration + END_TOLERANCE_SEC:
                    problems.append(
                        problem_at(
                            path,
                            line,
                            "segment_offset",
                            f"{end} ms is past the end of the recording ({duration:.3f} s)",
                        )
                    )
                    continue
                end_sec = min(end_sec, duration)
            result.turns.append(_Turn(recording_id, start_sec, end_sec, label, file, line))
    except csv.Error as error:
        problems.append(csv_error(path, reader.line_num, error))


def _milliseconds(value: str, path: Path, line: int, column: str, problems: list[str]) -> int | None:
    """A whole number of milliseconds (ChildProject writes integers; '1200.0' is accepted)."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number >= 0 or number == float("inf"):  # also catches NaN
        problems.append(problem_at(path, line, column, f"'{value}' is not a number of milliseconds (0 or more)"))
        return None
    return round(number)


def _store_ranges(catalog: Catalog, result: AnnotationImport) -> None:
    """The set's annotated ranges, after its rows: if a kill comes in between, the ranges are the old
    ones (a later import fixes them), never ranges that claim rows not yet stored."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    ranges = sorted(set(result.ranges))
    with catalog.transaction():
        catalog.run(_SQL, "forget_ranges", {"target": result.target, "source": result.source})
        if ranges:
            catalog.run_many(
                _SQL, "add_range", [[result.target, result.source, rid, start, end, now] for rid, start, end in ranges]
            )


def _query(name: str) -> str:
    return named_queries(_SQL)[name].sql
