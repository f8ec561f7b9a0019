"""LENA ``.its`` files: speaker-type segments and the recorder's clock times.

An .its file is XML. The recorder's parts (it was paused between them) are the
``<Recording num startClockTime startTime endTime>`` elements directly under ``/ITS/ProcessingUnit``;
they hold ``<Conversation>`` and ``<Pause>`` blocks of ``<Segment spkr=… startTime="PT12.34S" endTime=…>``.
The ``<Bar>`` elements beside them slice the day into hours and repeat ``<Recording>`` elements for each
slice: those are not parts (reading them too gave every part several overlapping clock rows), so only
``/ITS/ProcessingUnit/Recording`` is a part, as ChildProject's ``ItsConverter`` reads it
(ChildProject/converters.py). Times are ISO 8601 durations from the start of the audio file; ``spkr`` is
LENA's speaker type (CHN/CHF key child, FAN/FAF female adult, MAN/MAF male adult, CXN/CXF other child,
OLN/OLF overlap, TVN/TVF electronic media, NON/NOF noise, SIL silence; N near, F far).
``startClockTime`` and ``endClockTime`` are the wall-clock times (UTC) of the part's start and end; the
header's ``<TransferTime LocalTime=… UTCTime=…>`` (when the recorder was read out) gives the family's
offset from UTC, so the local time of day is known too (as ChildProject's LENA tutorial derives it).

The file is streamed through expat with a parser target that keeps only the open elements' tags: no
element tree is built, so memory does not grow with the number of elements, and a file nested deeper
than LENA ever nests (``MAX_DEPTH``) is refused in one sentence instead of growing expat's stack.
ChildProject parses the whole tree with lxml into a pandas frame and renames the speaker types
(CHN -> CHI, FAN -> FEM, ...); here the LENA codes stay as they are, and every ``<Segment>`` is read.

A part's attributes are checked (a part number, times, a clock between ``CLOCK_YEARS``); ``store_clock``
checks the parts against the recording's duration and each other, and writes the table
``recording_clock`` (owned here): one row per part, so reports and timelines show the time of day.
This module never imports typer.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from homecat.catalog import Catalog, named_queries
from homecat.errors import HomecatError

ITS_SUFFIX = ".its"
ITS_TIER = "spkr"  # the tier of imported .its segments: LENA's attribute name
_SQL = "queries/its.sql"
# The speaker types that are voices (key child, adults, other children, near and far): `vad import` of an
# .its file stores these as speech rows; overlap, electronic media, noise and silence are not speech.
SPEECH_TYPES = ("CHN", "CHF", "FAN", "FAF", "MAN", "MAF", "CXN", "CXF")
PART_PATH = ("ITS", "ProcessingUnit")  # the elements a recorder part's <Recording> sits in
MAX_DEPTH = 64  # LENA nests about 6 deep (ITS/ProcessingUnit/Recording/Conversation/Segment/UTT)
MAX_PART = 2**31 - 1  # recording_clock.part is an INTEGER
CLOCK_YEARS = (1980, 2100)  # a recorder clock outside these years is unset or broken, not a date to age from
MAX_UTC_OFFSET_MIN = 14 * 60  # the farthest time zones from UTC (UTC-12 … UTC+14)
# How far a part may end past the audio (LENA writes part ends to 0.01 s); segments get the same tolerance.
PART_END_TOLERANCE_SEC = 0.01

_DURATION = re.compile(r"P(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")


@dataclass(frozen=True)
class ItsSegment:
    where: str  # "Segment 12 (1.000-2.500 s)": how a person finds it in the file
    start: float | str | None  # seconds, or the text when it is not an ISO duration
    end: float | str | None
    speaker: str


@dataclass(frozen=True)
class ItsPart:
    """One ``/ITS/ProcessingUnit/Recording`` element: a stretch the recorder ran without a pause."""

    part: int
    start_sec: float
    end_sec: float
    start_clock: datetime | None  # UTC, naive
    end_clock: datetime | None = None  # UTC, naive
    utc_offset_min: int | None = None  # local time = UTC + this, from the file's <TransferTime>; None: not given


@dataclass
class ItsFile:
    segments: list[ItsSegment] = field(default_factory=list)
    parts: list[ItsPart] = field(default_factory=list)
    utc_offset_min: int | None = None  # local time = UTC + this (from <TransferTime>); None when not given


def iso_seconds(text: str | None) -> float | None:
    """Seconds of an ISO 8601 duration as LENA writes it ("PT12.34S", "PT1H2M3.5S"); None if it is not one."""
    if text and text.startswith("PT") and text.endswith("S") and "M" not in text and "H" not in text:
        try:  # what LENA writes: a third of the regular expression's cost, which matters over 40,000 times
            seconds = float(text[2:-1])
        except ValueError:
            return None
        # float() also takes "nan", "inf", "-5" and "1_0", which are not ISO durations
        return seconds if math.isfinite(seconds) and text[2:3].isdigit() else None
    match = _DURATION.fullmatch((text or "").strip())
    if not match or not text or not any(match.groupdict().values()):
        return None
    h, m, s = (float(match[k] or 0) for k in ("h", "m", "s"))
    seconds = h * 3600 + m * 60 + s
    return seconds if math.isfinite(seconds) else None


def _clock(text: str) -> datetime | None:
    """The UTC time of an ISO 8601 clock between CLOCK_YEARS, or None when it is not one."""
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        value = value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value
    except (ValueError, OverflowError):  # OverflowError: a time zone that moves year 1 or 9999 off the calendar
        return None
    return value if CLOCK_YEARS[0] <= value.year <= CLOCK_YEARS[1] else None


def _part(attrib: dict[str, str], ordinal: int, reasons: list[str]) -> ItsPart | None:
    """A recorder part from a <Recording>'s attributes, or None after adding why it is not one."""
    num_text = attrib.get("num")
    number = ordinal
    if num_text is not None:
        text = num_text.strip()
        # the length first: int() of thousands of digits raises (Python's limit on int conversion)
        if not (text.isdecimal() and text.isascii() and len(text) <= 10 and 1 <= int(text) <= MAX_PART):
            reasons.append(f"num '{num_text}' is not a part number (a whole number 1-{MAX_PART})")
        else:
            number = int(text)
    times = []
    for name in ("startTime", "endTime"):
        seconds = iso_seconds(attrib.get(name))
        if seconds is None:
            reasons.append(f"{name} '{attrib.get(name, '')}' is not a duration like PT12.34S (0 s or more)")
        times.append(seconds)
    start, end = times
    if start is not None and end is not None and end < start:
        reasons.append(f"endTime {end:.3f} s is before startTime {start:.3f} s")
    clocks = []
    for name in ("startClockTime", "endClockTime"):
        clock = None
        clock_text = attrib.get(name)
        if clock_text is not None and clock_text.strip():
            clock = _clock(clock_text)
            if clock is None:
                reasons.append(
                    f"{name} '{clock_text}' is not a date and time (ISO 8601, UTC) between the years "
                    f"{CLOCK_YEARS[0]} and {CLOCK_YEARS[1]}"
                )
        clocks.append(clock)
    if clocks[0] is not None and clocks[1] is not None and clocks[1] < clocks[0]:
        reasons.append(f"endClockTime {clocks[1]} is before startClockTime {clocks[0]}")
    if reasons:
        return None
    return ItsPart(number, start, end, clocks[0], clocks[1])


def _utc_offset_min(attrib: dict[str, str], reasons: list[str]) -> int | None:
    """Minutes from UTC to the local time of a <TransferTime LocalTime UTCTime>, or None after adding why not."""
    local, utc = (_clock(attrib.get(name) or "") for name in ("LocalTime", "UTCTime"))
    if local is None or utc is None:
        reasons.append(
            f"LocalTime '{attrib.get('LocalTime', '')}' and UTCTime '{attrib.get('UTCTime', '')}' are not both dates "
            f"and times between the years {CLOCK_YEARS[0]} and {CLOCK_YEARS[1]}"
        )
        return None
    minutes = round((local - utc).total_seconds() / 60)
    if abs(minutes) > MAX_UTC_OFFSET_MIN:
        reasons.append(
            f"LocalTime is {minutes} minutes from UTCTime, more than a time zone is (at most {MAX_UTC_OFFSET_MIN})"
        )
        return None
    return minutes


class _Reader:
    """An expat parser target: collects segments and parts, keeps only the open elements' tags."""

    def __init__(self, name: str):
        self.name = name
        self.open: list[str] = []
        self.result = ItsFile()
        self.problems: list[str] = []
        self.recordings = 0

    def start(self, tag: str, attrib: dict[str, str]) -> None:
        if tag == "Segment":
            start_text, end_text = attrib.get("startTime"), attrib.get("endTime")
            start, end = iso_seconds(start_text), iso_seconds(end_text)
            span = f" ({start:.3f}-{end:.3f} s)" if start is not None and end is not None else ""
            self.result.segments.append(
                ItsSegment(
                    f"Segment {len(self.result.segments) + 1}{span}",
                    start if start is not None else start_text,
                    end if end is not None else end_text,
                    (attrib.get("spkr") or "").strip(),
                )
            )
        elif tag == "Recording" and tuple(self.open) == PART_PATH:
            self.recordings += 1
            reasons: list[str] = []
            part = _part(attrib, self.recordings, reasons)
            if part is None:
                self.problems.append(
                    f"{self.name}: <Recording> {self.recordings} (a recorder part): {'; '.join(reasons)}."
                )
            else:
                self.result.parts.append(part)
        elif tag == "TransferTime" and self.result.utc_offset_min is None:
            reasons = []
            self.result.utc_offset_min = _utc_offset_min(attrib, reasons)
            if reasons:
                self.problems.append(f"{self.name}: <TransferTime> (the recorder's local time): {'; '.join(reasons)}.")
        if len(self.open) >= MAX_DEPTH:
            raise HomecatError(
                f"{self.name} nests its elements more than {MAX_DEPTH} deep (LENA nests about 6): "
                "it is not a LENA .its file."
            )
        self.open.append(tag)

    def end(self, tag: str) -> None:
        self.open.pop()

    def close(self) -> ItsFile:
        return self.result


def read_its(path: Path) -> ItsFile:
    """Every <Segment> (in file order) and every recorder part of a LENA .its file, streamed.

    A part whose attributes are not a part number, times and a clock between CLOCK_YEARS is an error
    naming the file, the part and the field (every such part at once).
    """
    reader = _Reader(path.name)
    parser = ET.XMLParser(target=reader)
    try:
        with open(path, "rb") as f:
            while block := f.read(1 << 14):  # small blocks: expat goes on to the end of a block after an error
                parser.feed(block)
        parser.close()
    except ET.ParseError as exc:
        raise HomecatError(f"{path.name} cannot be read as a LENA .its file (XML: {exc}).") from None
    except OSError as exc:
        raise HomecatError(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    result = reader.result
    if reader.problems:
        raise HomecatError(
            f"{path.name} has {len(reader.problems)} unreadable recorder part(s), so nothing from it was imported:",
            *reader.problems,
        )
    if not result.parts and not result.segments:
        raise HomecatError(f"{path.name} has no <Recording> or <Segment> elements: it is not a LENA .its file.")
    result.parts = [replace(p, utc_offset_min=result.utc_offset_min) for p in result.parts]
    return result


def check_tiers(name: str, tiers: Sequence[str]) -> None:
    """An .its file has one tier, 'spkr'; asking for another is the user's mistake."""
    absent = [t for t in tiers if t.strip() != ITS_TIER]
    if absent:
        raise HomecatError(f"{name} has no tier {', '.join(repr(t) for t in absent)} (its tiers: '{ITS_TIER}').")


def part_problems(source: str, parts: Sequence[ItsPart], duration_sec: float | None, rel_path: str) -> list[str]:
    """Why the parts of ``source`` cannot be the clock of a recording of ``duration_sec``: one line per part."""
    lines = []
    seen: dict[int, ItsPart] = {}
    previous: ItsPart | None = None
    for p in sorted(parts, key=lambda p: (p.start_sec, p.end_sec)):
        where = f"{source}: recorder part {p.part} ({p.start_sec:.3f}-{p.end_sec:.3f} s)"
        if duration_sec is not None and p.end_sec > duration_sec + PART_END_TOLERANCE_SEC:
            lines.append(f"{where} ends past the end of {rel_path} ({duration_sec:.3f} s).")
        if p.part in seen:
            lines.append(
                f"{where} has the number of another part ({seen[p.part].start_sec:.3f} s); numbers are unique."
            )
        if previous is not None and p.start_sec < previous.end_sec - PART_END_TOLERANCE_SEC:
            lines.append(f"{where} overlaps part {previous.part} ({previous.start_sec:.3f}-{previous.end_sec:.3f} s).")
        seen.setdefault(p.part, p)
        previous = p if previous is None or p.end_sec > previous.end_sec else previous
    return lines


def store_clock(catalog: Catalog, recording_id: str, source: str, parts: Sequence[ItsPart]) -> int:
    """Replace the recording's clock times by the parts of ``source`` that have one, inside the caller's
    transaction (so a file's rows and its clock are stored together or not at all).

    Parts past the recording's end, overlapping or numbered twice are an error naming each (nothing is written).
    """
    _, found = catalog.rows(named_queries(_SQL)["clock_recording"].sql, {"recording_id": recording_id})
    rel_path, duration_sec = found[0] if found else (recording_id, None)
    problems = part_problems(source, parts, duration_sec, rel_path)
    if problems:
        raise HomecatError(
            f"{source} has {len(problems)} recorder part problem(s), so nothing from it was imported:", *problems
        )
    catalog.run(_SQL, "forget_clock", {"recording_id": recording_id})
    rows = [
        [recording_id, source, p.part, p.start_sec, p.end_sec, p.start_clock, p.end_clock, p.utc_offset_min]
        for p in parts
        if p.start_clock
    ]
    if rows:
        catalog.run_many(_SQL, "add_clock", rows)
    return len(rows)
