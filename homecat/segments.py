"""`homecat segments import`: annotated intervals (CSV/TSV, ELAN, Praat, LENA) into the catalog table ``segments``.

Owns checking every interval against the catalog's recordings (all problems of a file at once; nothing from
it unless ``skip_invalid``, whose skipped rows become 'invalid_segment' findings) and replacing a file's rows
by its name on re-import, with stable ``segment_id``s. Column mapping lives in mapping.py, LENA in its.py;
the ChildProject importer reuses ``RecordingIndex``, ``check_candidates`` and ``store_segments``.
Users read README.md "Annotated segments". Never imports typer.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa

from homecat.annotation_formats import Annotation, Read, chosen_tiers
from homecat.annotation_formats.alice import looks_like_alice, read_alice
from homecat.annotation_formats.chat import CHAT_SUFFIX, read_chat
from homecat.annotation_formats.eaf import read_eaf
from homecat.annotation_formats.textgrid import read_textgrid
from homecat.annotation_formats.vcm import VCM_SUFFIX, read_vcm
from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError
from homecat.its import ITS_SUFFIX, ITS_TIER, ItsPart, part_problems, read_its, store_clock
from homecat.its import check_tiers as its_tiers
from homecat.mapping import Mapping, media_time_origin_sec
from homecat.missing import is_missing, known, label_problem

STAGE = "segments"
FINDING_CODE = "invalid_segment"
_SQL = "queries/segments.sql"
UNKNOWN_RECORDING = "(unknown)"  # findings.recording_id of a skipped row whose recording is not in the catalog
END_TOLERANCE_SEC = 0.01
MAX_LISTED_PROBLEMS = 50  # lines of one error; the rest are counted
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
EAF_SUFFIX = ".eaf"
TEXTGRID_SUFFIX = ".textgrid"


@dataclass(frozen=True)
class SegmentRow:
    """One checked segment, ready for ``store_segments``."""

    recording_id: str
    start_sec: float
    end_sec: float
    label: str
    tier: str = ""
    parent_tier: str = ""  # the tier ``tier`` depends on (ELAN's tier hierarchy), '' for a top-level tier


def segment_id(source: str, tier: str, recording_id: str, start_sec: float, end_sec: float) -> str:
    """Stable id of an interval of a source file: the same interval gets the same id on every import."""
    key = "\x1f".join([source, tier, recording_id, str(round(start_sec * 1000)), str(round(end_sec * 1000))])
    return hashlib.sha1(key.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Candidate:
    """One interval as a file gives it, before checking; values may still be text."""

    where: str  # "line 4", "tier 'events' interval 3 (1.200-1.500 s)": how a person finds it in the file
    recording: str | None  # the catalog's rel_path or recording_id
    start: str | float | int | None
    end: str | float | int | None
    label: str | None
    tier: str = ""
    unit_sec: float = 1.0  # seconds per unit of start, end and row_offset (Mapping.unit_sec)
    row_offset: str | float | None = None  # a clip's start in the recording, in the unit (a mapped column)
    offset_sec: float = 0.0  # added to every time of the file (--offset-sec, ELAN TIME_ORIGIN)
    parent_tier: str = ""  # ELAN: the tier ``tier`` depends on
    problem: str | None = None  # the reader's reason it is not an interval (a malformed line)


@dataclass(frozen=True)
class Problem:
    """Why one candidate cannot be imported."""

    where: str
    reasons: tuple[str, ...]
    recording_id: str | None  # None when the recording is not known

    def message(self, source: str) -> str:
        return f"{source}: {self.where}: {'; '.join(self.reasons)}."


@dataclass(frozen=True)
class RecordingInfo:
    recording_id: str
    rel_path: str
    status: str
    duration_sec: float | None  # what intervals must fit in; None when unreadable


class RecordingIndex:
    """The catalog's recordings, looked up by rel_path, recording_id, file stem, file name or path tail.

    Labs name recordings as their tools write them: the rel_path, the id or stem homecat shows, the file
    name with its extension (``HB002_20240310.flac``), or a longer or shorter path (``/data/raw/P01/a.wav``,
    ``day1/a.wav``). Each is accepted when it names one recording; a name that fits several is a question
    for the user, answered by listing them (``ambiguity``).
    """

    def __init__(self, recordings: Iterable[RecordingInfo]):
        self.recordings = list(recordings)
        self._by_rel_path = {r.rel_path: r for r in self.recordings}
        self._by_id = {r.recording_id: r for r in self.recordings}
        self._by_short: dict[str, list[RecordingInfo]] = {}  # recording_id, file stem and file name
        for r in self.recordings:
            file_name = r.rel_path.rsplit("/", 1)[-1]
            for key in dict.fromkeys([r.recording_id, Path(file_name).stem, file_name]):
                self._by_short.setdefault(key, []).append(r)
        self._tails: dict[str, list[RecordingInfo]] = {}  # path tails looked up so far (one scan per name)

    @classmethod
    def load(cls, catalog: Catalog) -> RecordingIndex:
        _, rows = catalog.rows(named_queries(_SQL)["segment_recordings"].sql)
        return cls(RecordingInfo(*row) for row in rows)

    def find(self, name: str) -> RecordingInfo | None:
        """The recording ``name`` names: its rel_path or recording_id, else the one recording whose file
        stem, file name or path tail it is (Windows separators and a leading ./ tolerated); None when it
        names none or several (``ambiguity`` says which)."""
        for key in dict.fromkeys([name, _posix(name)]):
            found = self._by_rel_path.get(key) or self._by_id.get(key)
            if found:
                return found
        matches = self.named(name)
        return matches[0] if len(matches) == 1 else None

    def named(self, name: str) -> list[RecordingInfo]:
        """Every recording a name may mean: the one whose rel_path it is, else each whose recording_id,
        file stem or file name it is, else each whose rel_path ends with it (``day1/a.wav``) or that it
        ends with (``/data/raw/P01/a.wav``), by whole folder names.

        Several files may share a stem (P01/day1.wav, P02/day1.wav; scan ids them day1 and day1-<hash>):
        the one whose id kept the stem is no likelier to be meant than the others, so callers treat
        several as a question for the user.
        """
        keys = list(dict.fromkeys([name, _posix(name)]))
        for key in keys:
            if key in self._by_rel_path:
                return [self._by_rel_path[key]]
        for key in keys:
            if key in self._by_short:
                return list(dict.fromkeys(self._by_short[key]))
        tail = keys[-1].strip("/")
        if "/" not in tail:
            return []
        if tail not in self._tails:
            self._tails[tail] = [
                r
                for r in self.recordings
                if f"/{r.rel_path}".endswith(f"/{tail}") or f"/{tail}".endswith(f"/{r.rel_path}")
            ]
        return self._tails[tail]

    def ambiguity(self, name: str) -> str:
        """Why ``name`` names no single recording, in words that list the candidates."""
        matches = self.named(name)
        if len(matches) > 1:
            listed = ", ".join(sorted(r.rel_path for r in matches))
            return f"'{name}' names {len(matches)} recordings ({listed}): write the rel_path of the one meant"
        return f"unknown recording '{name}' (no rel_path, recording_id, file name, stem or path tail in the catalog)"

    def by_media(self, descriptors: Sequence[dict]) -> list[RecordingInfo]:
        """The recordings an EAF's media descriptors name (MEDIA_URL, RELATIVE_MEDIA_URL): for each URL, the
        recording whose rel_path is the longest tail of its path (a file name is the shortest tail)."""
        found: dict[str, RecordingInfo] = {}
        for descriptor in descriptors:
            for key in ("RELATIVE_MEDIA_URL", "MEDIA_URL"):
                parts = _url_parts(descriptor.get(key) or "")
                best = 0
                matches: list[RecordingInfo] = []
                for info in self.recordings:
                    tail = info.rel_path.split("/")
                    if len(tail) <= len(parts) and parts[-len(tail) :] == tail and len(tail) >= best:
                        matches = ([] if len(tail) > best else matches) + [info]
                        best = len(tail)
                if len(matches) == 1:
                    found.setdefault(matches[0].recording_id, matches[0])
                    break
        return list(found.values())

    def for_annotation_file(
        self, path: Path, recording: str | None = None, media: Sequence[dict] = ()
    ) -> RecordingInfo:
        """The recording an EAF/TextGrid file belongs to: ``recording`` if given, else the one its media
        descriptors name (EAF), else by the file's stem."""
        if recording is not None:
            found = self.find(recording)
            if found is None:
                raise HomecatError(
                    f"{path.name}: --recording '{recording}' is not a rel_path or recording_id in the catalog."
                )
            return found
        linked = self.by_media(media)
        if len(linked) == 1:
            return linked[0]
        if linked:
            paths = ", ".join(sorted(r.rel_path for r in linked))
            raise HomecatError(
                f"{path.name}: its media files are several recordings ({paths}); choose one with --recording."
            )
        stem = path.stem
        matches = self.named(stem)
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(sorted(r.recording_id for r in matches))
            raise HomecatError(
                f"{path.name}: several recordings have the file stem '{stem}' ({ids}); choose one with --recording."
            )
        raise HomecatError(
            f"{path.name}: no recording in the catalog has the id or file stem '{stem}'; "
            "name it with --recording REL_PATH_OR_ID (or run 'homecat scan' first)."
        )


def _url_parts(url: str) -> list[str]:
    """The path components of a media URL (file:///..., percent-encoded, relative, or a Windows path)."""
    if not url:
        return []
    parsed = urlparse(url)
    path = unquote(parsed.path if parsed.scheme and len(parsed.scheme) > 1 else url)  # 'C:\\x' has scheme 'c'
    return [p for p in path.replace("\\", "/").split("/") if p not in ("", ".", "..")]


def _posix(name: str) -> str:
    """A path as a lab may write it (Windows separators, a leading ./) in the catalog's form."""
    return name.replace("\\", "/").removeprefix("./")


@dataclass
class Checked:
    """The outcome of checking a file's candidates."""

    rows: list[SegmentRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    merged: int = 0  # identical duplicates kept once


def check_candidate(candidate: Candidate, index: RecordingIndex) -> SegmentRow | Problem:
    """Check one interval against the catalog: every reason it cannot be imported, or the row."""
    name = (candidate.recording or "").strip()
    if candidate.problem and candidate.start is None:  # a malformed line: its own reason says it all
        known_recording = index.find(name) if name else None
        return Problem(candidate.where, (candidate.problem,), known_recording and known_recording.recording_id)
    reasons: list[str] = [candidate.problem] if candidate.problem else []
    info = None
    if not name:
        reasons.append("no recording is given")
    else:
        info = index.find(name)
        if info is None:
            reasons.append(index.ambiguity(name))
        elif info.duration_sec is None:
            reasons.append(f"recording {info.rel_path} is {info.status}: it has no readable audio")
    start = _seconds("start_sec", candidate.start, reasons, candidate.unit_sec)
    end = _seconds("end_sec", candidate.end, reasons, candidate.unit_sec)
    offset = candidate.offset_sec
    if candidate.row_offset is not None:
        row_offset = _seconds("offset", candidate.row_offset, reasons, candidate.unit_sec)
        offset = None if row_offset is None else offset + row_offset
    if start is not None and end is not None and offset is not None:
        start, end = start + offset, end + offset
        if start < 0:  # a negative ELAN TIME_ORIGIN
            reasons.append(f"start_sec {start:.3f} (with the offset {offset:.3f} s) is before the recording starts")
        if end <= start:
            reasons.append(f"end_sec {end:.3f} is not after start_sec {start:.3f}")
        elif info is not None and info.duration_sec is not None:
            limit = info.duration_sec
            if end > limit + END_TOLERANCE_SEC or start >= limit:
                reasons.append(f"end_sec {end:.3f} is past the end of {info.rel_path} ({limit:.3f} s)")
            end = min(end, limit)  # rounding by the annotation tool, within the tolerance
    # a line break inside a cell or an annotation is one character, whichever system wrote it
    label = (candidate.label or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if not label:
        reasons.append("the label is empty")
    elif is_missing(label):
        reasons.append(f"the label '{label}' is a missing value, not a label")
    elif why := label_problem(label):
        reasons.append(why)
    tier = candidate.tier.strip()
    if why := label_problem(tier, "tier name"):
        reasons.append(why)
    recording_id = info.recording_id if info else None
    if reasons:
        return Problem(candidate.where, tuple(reasons), recording_id)
    return SegmentRow(recording_id, start, end, label, tier, candidate.parent_tier)


def check_candidates(candidates: Iterable[Candidate], index: RecordingIndex, source: str = "") -> Checked:
    """Check every candidate (collecting every problem) and settle duplicates within the file.

    ``source`` only shapes the duplicate key; the same interval twice is kept once when the labels
    agree and is a problem of the later occurrence when they differ.
    """
    checked = Checked()
    first: dict[str, tuple[Candidate, SegmentRow]] = {}
    for candidate in candidates:
        result = check_candidate(candidate, index)
        if isinstance(result, Problem):
            checked.problems.append(result)
            continue
        key = segment_id(source, result.tier, result.recording_id, result.start_sec, result.end_sec)
        if key in first:
            earlier, row = first[key]
            if row.label == result.label:
                checked.merged += 1
            else:
                reason = (
                    f"the same interval as {earlier.where} (tier '{row.tier}', {row.start_sec:.3f}-{row.end_sec:.3f} s) "
                    f"with another label ('{result.label}' here, '{row.label}' there)"
                )
                checked.problems.append(Problem(candidate.where, (reason,), result.recording_id))
            continue
        first[key] = (candidate, result)
        checked.rows.append(result)
    return checked


def problem_lines(
    source: str, problems: Sequence[Problem], noun: str = "rows", limit: int = MAX_LISTED_PROBLEMS
) -> list[str]:
    """The lines of the error for a file with problems: a headline, then one line per problem (capped)."""
    head = (
        f"{source} has {len(problems)} invalid {noun if len(problems) != 1 else noun.rstrip('s')}, so nothing "
        "from it was imported (fix them, or pass --skip-invalid to import the valid ones):"
    )
    listed, past_end = _grouped_past_end(source, problems)
    lines = [head] + past_end + [p.message(source) for p in listed[:limit]]
    if len(listed) > limit:
        lines.append(f"... and {len(listed) - limit} more.")
    return lines


# Past-the-end reasons of check_candidate: one cause (the wrong recording, a clip offset, a time unit) makes many.
_PAST_END = re.compile(r"end_sec [-\d.]+ is past the end of (?P<rel_path>.+) \((?P<limit>[\d.]+) s\)")
_GROUP_PAST_END = 3  # this many intervals past one recording's end are one line, not one each


def _grouped_past_end(source: str, problems: Sequence[Problem]) -> tuple[list[Problem], list[str]]:
    """Problems whose only reason is ending past a recording's end, said once per recording when there are
    several (with the first and last place and what usually causes it); the other problems as they are."""
    by_recording: dict[tuple[str, str], list[Problem]] = {}
    for problem in problems:
        match = _PAST_END.fullmatch(problem.reasons[0]) if len(problem.reasons) == 1 else None
        if match:
            by_recording.setdefault((match["rel_path"], match["limit"]), []).append(problem)
    grouped = {id(p) for group in by_recording.values() if len(group) >= _GROUP_PAST_END for p in group}
    lines = [
        f"{source}: {len(group)} intervals end past the end of {rel_path} ({limit} s), from {group[0].where} to "
        f"{group[-1].where}: is the file meant for another (longer) recording, or do its times need --offset-sec "
        "or another --time-unit?"
        for (rel_path, limit), group in by_recording.items()
        if len(group) >= _GROUP_PAST_END
    ]
    return [p for p in problems if id(p) not in grouped], lines


def store_segments(
    catalog: Catalog,
    source: str,
    rows: Iterable[SegmentRow],
    skipped: Sequence[Problem] = (),
    clock: tuple[str, Sequence[ItsPart]] | None = None,
) -> int:
    """Replace every segment of ``source`` (a file name) by ``rows``, its findings by ``skipped`` and,
    for a LENA file, the clock of ``clock`` (recording_id, parts), in one transaction; return the number
    of segments stored.

    ``rows`` must be checked already (``check_candidates``); an identical interval given twice is
    stored once, the same interval with two labels is an error.
    """
    by_id: dict[str, SegmentRow] = {}
    for row in rows:
        key = segment_id(source, row.tier, row.recording_id, row.start_sec, row.end_sec)
        kept = by_id.setdefault(key, row)
        if kept.label != row.label:
            raise HomecatError(
                f"{source}: the interval {row.start_sec:.3f}-{row.end_sec:.3f} s of {row.recording_id} "
                f"(tier '{row.tier}') has two labels, '{kept.label}' and '{row.label}'."
            )
    kept_rows = list(by_id.values())
    table = pa.table(
        {
            "segment_id": pa.array(list(by_id), pa.string()),
            "recording_id": pa.array([r.recording_id for r in kept_rows], pa.string()),
            "start_sec": pa.array([float(r.start_sec) for r in kept_rows], pa.float64()),
            "end_sec": pa.array([float(r.end_sec) for r in kept_rows], pa.float64()),
            "label": pa.array([r.label for r in kept_rows], pa.string()),
            "tier": pa.array([r.tier for r in kept_rows], pa.string()),
            "parent_tier": pa.array([r.parent_tier for r in kept_rows], pa.string()),
        }
    )
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with catalog.transaction() as con:
        catalog.run(_SQL, "forget_source", {"source": source})
        con.register("_new_segments", table)
        try:
            catalog.run(_SQL, "add_segments", {"source": source, "now": now})
        finally:
            con.unregister("_new_segments")
        # findings has no source column: this stage's messages start with "<source>: " (Problem.message).
        catalog.run(_SQL, "forget_skipped", {"stage": STAGE, "code": FINDING_CODE, "source": source})
        if skipped:
            catalog.run_many(
                _SQL,
                "add_skipped",
                [[p.recording_id or UNKNOWN_RECORDING, FINDING_CODE, p.message(source), STAGE, now] for p in skipped],
            )
        if clock is not None:
            store_clock(catalog, clock[0], source, clock[1])
    return len(kept_rows)


# --------------------------------------------------------------------------- reading files


def read_candidates(
    path: Path,
    index: RecordingIndex,
    tiers: Sequence[str] = (),
    recording: str | None = None,
    mapping: Mapping | None = None,
    notes: list[str] | None = None,
    label_from_tier: bool = False,
) -> tuple[list[Candidate], str, list[ItsPart]]:
    """The intervals of one annotation file, the word for them ('rows' or 'intervals') and, for a LENA
    .its file, its parts' clock times; the readers' note lines are appended to ``notes``.

    ``mapping`` names a table's columns and time unit; its per-file offset applies to every format.
    ``label_from_tier``: each interval's label is its tier's name (per-speaker tiers: who, not what was said).
    """
    mapping = mapping or Mapping()
    notes = [] if notes is None else notes
    candidates, noun, parts = _read_file(path, index, tiers, recording, mapping, notes, label_from_tier)
    if label_from_tier:
        candidates = [replace(c, label=c.tier) for c in candidates]
    return candidates, noun, parts


def _read_file(
    path: Path,
    index: RecordingIndex,
    tiers: Sequence[str],
    recording: str | None,
    mapping: Mapping,
    notes: list[str],
    label_from_tier: bool,
) -> tuple[list[Candidate], str, list[ItsPart]]:
    if not path.is_file():
        raise HomecatError(f"There is no annotation file {path}.")
    suffix = path.suffix.lower()
    alice = suffix == ".txt" and looks_like_alice(path)  # ChildProject's extension for ALICE output
    if suffix in CSV_SUFFIXES and not alice:
        return _read_table(path, tiers, recording, mapping), "rows", []
    if mapping.maps_columns:
        raise HomecatError(
            f"{path.name}: --column, --time-unit and --frame-rate are for CSV/TSV files; "
            f"{path.suffix} files name their tiers and times themselves."
        )
    if alice or suffix == VCM_SUFFIX:  # each line names its recording
        read = read_alice(path, tiers) if alice else read_vcm(path, tiers)
        notes.extend(read.notes)
        return _per_row_recordings(read.annotations, index, recording, mapping.offset_sec), "lines", []
    if suffix in (EAF_SUFFIX, TEXTGRID_SUFFIX, ITS_SUFFIX, CHAT_SUFFIX):
        parts: list[ItsPart] = []
        if suffix == EAF_SUFFIX:
            read = read_eaf(path, tiers, keep_empty=label_from_tier)  # an empty annotation still says who
        elif suffix == ITS_SUFFIX:
            read, parts = _read_its(path, tiers)
        elif suffix == CHAT_SUFFIX:
            read = read_chat(path, tiers)
        else:
            read = read_textgrid(path, tiers)
        notes.extend(read.notes)
        if recording is None and read.media_name and len(index.named(read.media_name)) == 1:
            recording = index.named(read.media_name)[0].rel_path  # CHAT's @Media names its recording
        info = index.for_annotation_file(path, recording, read.descriptors)  # after parsing: that error first
        if problems := part_problems(path.name, parts, info.duration_sec, info.rel_path):
            raise HomecatError(
                f"{path.name} has {len(problems)} recorder part problem(s), so nothing was imported:", *problems
            )
        offset_sec = mapping.offset_sec + media_time_origin_sec(
            path.name, read.descriptors, info.rel_path, info.recording_id
        )
        rows = [
            Candidate(
                a.where,
                info.recording_id,
                a.start_sec,
                a.end_sec,
                a.label,
                a.tier,
                offset_sec=offset_sec,
                parent_tier=a.parent_tier,
            )
            for a in read.annotations
        ]
        return rows, "intervals", parts
    raise HomecatError(
        f"{path.name}: unknown annotation format '{path.suffix}'; use .csv, .tsv, .eaf (ELAN), .TextGrid (Praat), "
        ".its (LENA), .cha (CHAT), .vcm (VCM) or ALICE's .txt output."
    )


def _per_row_recordings(
    annotations: Sequence[Annotation], index: RecordingIndex, recording: str | None, offset_sec: float
) -> list[Candidate]:
    """Candidates of a file whose lines name their recording (a file stem, recording_id or rel_path;
    ``recording`` overrides it)."""
    resolved: dict[str, tuple[str, str | None]] = {}  # name -> (recording to check, problem)
    for name in {a.recording for a in annotations if a.recording and recording is None}:
        matches = index.named(name)
        if len(matches) > 1:
            paths = ", ".join(sorted(r.rel_path for r in matches))
            resolved[name] = (name, f"'{name}' is the file stem of several recordings ({paths}); pass --recording")
        else:
            resolved[name] = (matches[0].recording_id if matches else name, None)
    candidates = []
    for a in annotations:
        target, problem = (recording, None) if recording is not None else resolved.get(a.recording or "", (None, None))
        candidates.append(
            Candidate(
                a.where,
                target,
                a.start_sec,
                a.end_sec,
                a.label,
                a.tier,
                offset_sec=offset_sec,
                problem="; ".join(p for p in (a.problem, problem) if p) or None,
            )
        )
    return candidates


def _read_table(path: Path, tiers: Sequence[str], recording: str | None, mapping: Mapping) -> list[Candidate]:
    name = path.name
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            header_line = f.readline()
            f.seek(0)
            reader = csv.reader(f, delimiter=_delimiter(path, header_line))
            header = [h.strip().lower() for h in next(reader, [])]
            records = []
            line = reader.line_num
            for values in reader:
                if values and any(v.strip() for v in values):
                    records.append((line + 1, values))
                line = reader.line_num
    except UnicodeDecodeError:
        raise HomecatError(f"{name} is not UTF-8 text; save it as UTF-8 CSV.") from None
    except csv.Error as exc:
        raise HomecatError(f"{name}: line {reader.line_num} cannot be read as CSV ({exc}).") from None
    except OSError as exc:  # no permission, a folder, a failing disk: this file only, the others are imported
        raise HomecatError(f"{name} cannot be read ({exc.strerror or exc}).") from None
    if not header:
        raise HomecatError(f"{name} is empty: it needs a header line with recording, start_sec, end_sec and label.")
    column = {h: i for i, h in reversed(list(enumerate(header)))}  # the first of repeated names wins
    recordings = (mapping.recording,) if mapping.recording else ("recording", "recording_id")
    recording_column = next((c for c in recordings if c in column), None)
    required = [mapping.start, mapping.end, mapping.label] + ([mapping.offset] if mapping.offset else [])
    missing = [c for c in required if c not in column]
    if recording_column is None and recording is None:
        missing.insert(0, " (or ".join(recordings) + ")" * (len(recordings) - 1))
    if missing:
        raise HomecatError(
            f"{name}: line 1: the header lacks {', '.join(missing)}; it needs recording (the rel_path or "
            f"recording_id), start_sec, end_sec and label, and may have tier; other names are mapped with "
            f"--column, e.g. --column start=onset (found: {', '.join(header)})."
        )
    if recording_column is not None and recording is not None:
        raise HomecatError(f"{name} has a {recording_column} column: --recording is for files that name no recording.")
    tier_column = mapping.tier if mapping.tier in column else None
    if tiers and tier_column is None:
        raise HomecatError(f"{name} has no {mapping.tier} column, so --tier cannot choose rows from it.")

    def value(values: list[str], key: str) -> str | None:
        i = column[key]
        return values[i] if i < len(values) else None

    candidates = [
        Candidate(
            where=f"line {line}",
            recording=recording if recording is not None else value(values, recording_column),
            start=value(values, mapping.start),
            end=value(values, mapping.end),
            label=value(values, mapping.label),
            tier=(known(value(values, tier_column)) or "") if tier_column else "",
            unit_sec=mapping.unit_sec,
            row_offset=value(values, mapping.offset) if mapping.offset else None,
            offset_sec=mapping.offset_sec,
        )
        for line, values in records
    ]
    if tiers:
        picked = set(chosen_tiers(name, tiers, sorted({c.tier for c in candidates})))
        candidates = [c for c in candidates if c.tier in picked]
    return candidates


def _delimiter(path: Path, header_line: str) -> str:
    if path.suffix.lower() == ".tsv":
        return "\t"
    for delimiter in (",", "\t", ";"):  # ';' is what Excel writes in locales with a decimal comma
        if delimiter in header_line:
            return delimiter
    return ","


def _read_its(path: Path, tiers: Sequence[str]) -> tuple[Read, list[ItsPart]]:
    """LENA segments (label: the speaker type, tier 'spkr') and the recording's parts with their clock times."""
    its_tiers(path.name, tiers)
    its = read_its(path)
    read = Read([Annotation(s.where, s.start, s.end, s.speaker, ITS_TIER) for s in its.segments])
    return read, its.parts


def _seconds(
    field_name: str, value: str | float | int | None, reasons: list[str], unit_sec: float = 1.0
) -> float | None:
    """A time in seconds (``value`` counts units of ``unit_sec``), or None after adding why it is not one."""
    if value is None or (isinstance(value, str) and not value.strip()):
        reasons.append(f"{field_name} is missing")
        return None
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        reasons.append(f"{field_name} '{value}' is not a number")
        return None
    if not math.isfinite(seconds):
        reasons.append(f"{field_name} '{value}' is not a number")
        return None
    if seconds < 0:
        reasons.append(f"{field_name} {seconds:.3f} is negative")
        return None
    return seconds * unit_sec


# --------------------------------------------------------------------------- the command


@dataclass(frozen=True)
class ImportResult:
    source: str
    imported: int
    skipped: int
    merged: int  # identical duplicate intervals kept once
    notes: tuple[str, ...] = ()  # what the reader settled on its own (ELAN slots placed, Praat tiers renamed)

    def summary(self) -> str:
        merged = f", {self.merged} duplicate interval{'s' * (self.merged != 1)} merged" if self.merged else ""
        return f"imported {self.imported} segments from {self.source} ({self.skipped} skipped{merged})"


def import_file(
    catalog: Catalog,
    path: str | Path,
    tiers: Sequence[str] = (),
    recording: str | None = None,
    skip_invalid: bool = False,
    index: RecordingIndex | None = None,
    mapping: Mapping | None = None,
    label_from_tier: bool = False,
) -> ImportResult:
    """Import one annotation file, replacing its earlier import; raise with every problem found."""
    path = Path(path)
    source = path.name
    index = index or RecordingIndex.load(catalog)
    notes: list[str] = []
    candidates, noun, parts = read_candidates(path, index, tiers, recording, mapping, notes, label_from_tier)
    checked = check_candidates(candidates, index, source)
    if checked.problems and not skip_invalid:
        raise HomecatError(*problem_lines(source, checked.problems, noun))
    # a LENA file's clock times (the recording's time of day) go in with its rows
    clock = (candidates[0].recording, parts) if parts and candidates else None
    imported = store_segments(catalog, source, checked.rows, skipped=checked.problems, clock=clock)
    return ImportResult(source, imported, len(checked.problems), checked.merged, tuple(notes))


@dataclass
class ImportReport:
    results: list[ImportResult] = field(default_factory=list)
    errors: list[HomecatError] = field(default_factory=list)  # one per file that was not imported

    def error(self) -> HomecatError | None:
        """Every failed file's lines in one error, or None when all were imported."""
        if not self.errors:
            return None
        return HomecatError(*[line for exc in self.errors for line in exc.lines])


def import_files(
    catalog: Catalog,
    paths: Sequence[str | Path],
    tiers: Sequence[str] = (),
    recording: str | None = None,
    skip_invalid: bool = False,
    mapping: Mapping | None = None,
    label_from_tier: bool = False,
) -> ImportReport:
    """Import each file on its own (a bad file does not stop the others); see ``ImportReport.error``."""
    paths = [Path(p) for p in paths]
    names = [p.name for p in paths]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise HomecatError(
            f"Several files are named {', '.join(twice)}: a file's name identifies its segments, so rename them "
            "apart (nothing was imported)."
        )
    index = RecordingIndex.load(catalog)
    if not index.recordings:
        raise HomecatError(f"The catalog {catalog.path} has no recordings to annotate: run 'homecat scan' first.")
    report = ImportReport()
    for path in paths:
        try:
            report.results.append(
                import_file(catalog, path, tiers, recording, skip_invalid, index, mapping, label_from_tier)
            )
        except HomecatError as exc:
            report.errors.append(exc)
    return report
