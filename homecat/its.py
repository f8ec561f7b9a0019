"""LENA ``.its`` files: speaker-type segments and the recorder's clock times.

An .its file is XML: ``<Recording num startClockTime startTime endTime>`` elements (the recorder
was paused between them) hold ``<Conversation>`` and ``<Pause>`` blocks of ``<Segment spkr=…
startTime="PT12.34S" endTime=…>``. Times are ISO 8601 durations from the start of the audio file;
``spkr`` is LENA's speaker type (CHN/CHF key child, FAN/FAF female adult, MAN/MAF male adult,
CXN/CXF other child, OLN/OLF overlap, TVN/TVF electronic media, NON/NOF noise, SIL silence; N near,
F far). ``startClockTime`` is the wall-clock time (UTC) of the part's start.

The file is streamed with ``xml.etree.ElementTree.iterparse`` and each segment element is cleared
once read, so a day-long file (~20,000 segments, a few MB) costs little memory. ChildProject's
``ItsConverter`` (ChildProject/converters.py) reads the same attributes (segments under Pause and
Conversation, seconds-only durations, times from the start of the file), but parses the whole tree
with lxml into a pandas frame, renames the speaker types (CHN -> CHI, FAN -> FEM, ...) and comes with
the whole ChildProject package, which homecat does not depend on; here the LENA codes stay as they are.

``store_clock`` writes the table ``recording_clock`` (owned here): one row per part of a recording,
so reports and timelines can show the time of day. This module never imports typer.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from homecat.catalog import Catalog
from homecat.errors import HomecatError

ITS_SUFFIX = ".its"
ITS_TIER = "spkr"  # the tier of imported .its segments: LENA's attribute name
_SQL = "queries/its.sql"
# The speaker types that are voices (key child, adults, other children, near and far): `vad import` of an
# .its file stores these as speech rows; overlap, electronic media, noise and silence are not speech.
SPEECH_TYPES = ("CHN", "CHF", "FAN", "FAF", "MAN", "MAF", "CXN", "CXF")

_DURATION = re.compile(r"P(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?")


@dataclass(frozen=True)
class ItsSegment:
    where: str  # "Segment 12 (1.000-2.500 s)": how a person finds it in the file
    start: float | str | None  # seconds, or the text when it is not an ISO duration
    end: float | str | None
    speaker: str


@dataclass(frozen=True)
class ItsPart:
    """One <Recording> element: a stretch the recorder ran without a pause."""

    part: int
    start_sec: float
    end_sec: float
    start_clock: datetime | None  # UTC, naive


@dataclass
class ItsFile:
    segments: list[ItsSegment] = field(default_factory=list)
    parts: list[ItsPart] = field(default_factory=list)


def iso_seconds(text: str | None) -> float | None:
    """Seconds of an ISO 8601 duration as LENA writes it ("PT12.34S", "PT1H2M3.5S"); None if it is not one."""
    if text and text.startswith("PT") and text.endswith("S") and "M" not in text and "H" not in text:
        try:  # what LENA writes: a third of the regular expression's cost, which matters over 40,000 times
            return float(text[2:-1])
        except ValueError:
            return None
    match = _DURATION.fullmatch((text or "").strip())
    if not match or not text or not any(match.groupdict().values()):
        return None
    h, m, s = (float(match[k] or 0) for k in ("h", "m", "s"))
    return h * 3600 + m * 60 + s


def _clock(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def read_its(path: Path) -> ItsFile:
    """Every <Segment> (in file order) and every <Recording> part of a LENA .its file, streamed."""
    result = ItsFile()
    number = 0
    try:
        # "end" events only (an element's attributes are complete then; its children were cleared): half the events
        for _, elem in ET.iterparse(str(path), events=("end",)):
            if elem.tag == "Recording":
                start = iso_seconds(elem.get("startTime"))
                end = iso_seconds(elem.get("endTime"))
                if start is not None and end is not None:
                    part = int(elem.get("num") or len(result.parts) + 1)
                    result.parts.append(ItsPart(part, start, end, _clock(elem.get("startClockTime"))))
            elif elem.tag == "Segment":
                number += 1
                start_text, end_text = elem.get("startTime"), elem.get("endTime")
                start, end = iso_seconds(start_text), iso_seconds(end_text)
                span = f" ({start:.3f}-{end:.3f} s)" if start is not None and end is not None else ""
                result.segments.append(
                    ItsSegment(
                        f"Segment {number}{span}",
                        start if start is not None else start_text,
                        end if end is not None else end_text,
                        (elem.get("spkr") or "").strip(),
                    )
                )
                elem.clear()  # keeps memory flat over a day-long file
            elif elem.tag in ("Conversation", "Pause"):
                elem.clear()
    except ET.ParseError as exc:
        raise HomecatError(f"{path.name} cannot be read as a LENA .its file (XML: {exc}).") from None
    except OSError as exc:
        raise HomecatError(f"{path.name} cannot be read ({exc.strerror or exc}).") from None
    if not result.parts and not result.segments:
        raise HomecatError(f"{path.name} has no <Recording> or <Segment> elements: it is not a LENA .its file.")
    return result


def check_tiers(name: str, tiers: Sequence[str]) -> None:
    """An .its file has one tier, 'spkr'; asking for another is the user's mistake."""
    absent = [t for t in tiers if t != ITS_TIER]
    if absent:
        raise HomecatError(f"{name} has no tier {', '.join(repr(t) for t in absent)} (its tiers: '{ITS_TIER}').")


def store_clock(catalog: Catalog, recording_id: str, source: str, parts: Sequence[ItsPart]) -> int:
    """Replace the recording's clock times by the parts of ``source`` that have one (inside the caller's transaction)."""
    catalog.run(_SQL, "forget_clock", {"recording_id": recording_id})
    rows = [[recording_id, source, p.part, p.start_sec, p.end_sec, p.start_clock] for p in parts if p.start_clock]
    if rows:
        catalog.run_many(_SQL, "add_clock", rows)
    return len(rows)
