"""How a lab's annotation file maps onto segments: its column names, its time unit and its offset.

Labs export what their tools write: ``filename,onset,offset,speaker_type`` in milliseconds, frame
indices at a feature rate, or the times of a 2-minute clip cut out of a day-long recording. A
``Mapping`` names the columns (``recording``, ``start``, ``end``, ``label`` and the optional ``tier``,
for which ``speaker`` is another name, and ``offset``: a per-row clip offset), the unit of the time
columns (``s``, ``ms`` or ``frames`` at ``frame_rate`` per second) and a per-file offset in seconds.
A row's times in the recording are ``value * unit_sec + offset column * unit_sec + offset_sec``.

ELAN files carry their own offset: a media descriptor's ``TIME_ORIGIN`` (milliseconds) says which
media time the annotation's time 0 is, so an EAF that links the day-long recording with a time
origin places a clip's annotations in it. ``media_time_origin_sec`` picks the descriptor (media or
linked file) whose file is the recording, else the only origin the file gives.

This module never imports typer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath, PureWindowsPath

from homecat.errors import HomecatError

TIME_UNITS = ("s", "ms", "frames")
# Feature rates of this field run from 1 Hz to 1,000 Hz (10 ms hops); a sample index at 96 kHz is still
# inside. Past it, distinct rows collapse into one microsecond and are reported as duplicates.
MIN_FRAME_RATE = 1.0
MAX_FRAME_RATE = 100_000.0
KEYS = ("recording", "start", "end", "label", "tier", "speaker", "offset")


@dataclass(frozen=True)
class Mapping:
    """Column names (lower case, as the header is read), time unit and per-file offset of an annotation file."""

    recording: str | None = None  # None: a column 'recording', else 'recording_id'
    start: str = "start_sec"
    end: str = "end_sec"
    label: str = "label"
    tier: str = "tier"  # optional: rows without it have tier ''
    offset: str | None = None  # optional per-row clip offset, in time_unit
    time_unit: str = "s"
    frame_rate: float | None = None  # frames per second, with time_unit 'frames'
    offset_sec: float = 0.0  # added to every time of the file (a clip's start in the recording)

    @property
    def unit_sec(self) -> float:
        """Seconds per unit of the time columns."""
        if self.time_unit == "ms":
            return 0.001
        if self.time_unit == "frames":
            return 1.0 / float(self.frame_rate or 0)
        return 1.0

    @property
    def maps_columns(self) -> bool:
        """Whether anything but the per-file offset differs from the plain seconds layout."""
        return replace(self, offset_sec=0.0) != Mapping()

    @classmethod
    def from_options(
        cls,
        columns: Sequence[str] = (),
        time_unit: str = "s",
        frame_rate: float | None = None,
        offset_sec: float = 0.0,
    ) -> Mapping:
        """A mapping from ``--column KEY=NAME`` options, ``--time-unit``, ``--frame-rate`` and ``--offset-sec``."""
        names: dict[str, str] = {}
        for item in columns:
            key, sep, name = item.partition("=")
            key, name = key.strip().lower(), name.strip().lower()
            if not sep or not name or key not in KEYS:
                raise HomecatError(
                    f"--column '{item}' must be KEY=COLUMN with KEY one of {', '.join(KEYS)} (e.g. start=onset)."
                )
            key = "tier" if key == "speaker" else key
            if key in names:
                raise HomecatError(f"--column names the {key} column twice ('{names[key]}' and '{name}').")
            names[key] = name
        if time_unit not in TIME_UNITS:
            raise HomecatError(f"--time-unit '{time_unit}' is not one of {', '.join(TIME_UNITS)}.")
        if time_unit == "frames" and frame_rate is None:
            raise HomecatError("--time-unit frames needs --frame-rate, the frames per second (e.g. 100).")
        if frame_rate is not None and not MIN_FRAME_RATE <= frame_rate <= MAX_FRAME_RATE:  # also NaN
            raise HomecatError(
                f"--frame-rate {frame_rate} must be a number of frames per second from {MIN_FRAME_RATE:g} to "
                f"{MAX_FRAME_RATE:,.0f}."
            )
        if frame_rate is not None and time_unit != "frames":
            raise HomecatError("--frame-rate is for --time-unit frames.")
        if not math.isfinite(offset_sec) or offset_sec < 0:
            raise HomecatError(f"--offset-sec {offset_sec} must be a number of seconds, not negative.")
        return cls(**names, time_unit=time_unit, frame_rate=frame_rate, offset_sec=offset_sec)


def media_time_origin_sec(file_name: str, descriptors: Sequence[dict], rel_path: str, recording_id: str) -> float:
    """The TIME_ORIGIN (in seconds) of the EAF media or linked-file descriptor that is this recording.

    A descriptor is this recording when its file's stem is the recording's stem or id; when none is,
    the file's origins are used if they all agree (one media file, the usual case), and several
    different ones are a question for the user. No origin at all is 0.
    """
    stems = {PurePosixPath(rel_path).stem, recording_id}
    origins: list[tuple[str, float]] = []
    for descriptor in descriptors:
        url = descriptor.get("MEDIA_URL") or descriptor.get("LINK_URL") or ""
        relative = descriptor.get("RELATIVE_MEDIA_URL") or descriptor.get("RELATIVE_LINK_URL") or ""
        origin = descriptor.get("TIME_ORIGIN")
        if origin in (None, ""):
            origin_sec = 0.0
        else:
            try:
                origin_sec = float(origin) / 1000
            except ValueError:
                origin_sec = math.nan
            if not (math.isfinite(origin_sec) and origin_sec >= 0):  # 'nan', 'inf', '-5', 'abc'
                raise HomecatError(
                    f"{file_name}: the TIME_ORIGIN '{origin}' of the media {url or relative or '(unnamed)'} "
                    "is not a number of milliseconds (0 or more)."
                )
        names = {_stem(url), _stem(relative)} - {""}
        if names & stems:
            return origin_sec
        origins.append((url, origin_sec))
    distinct = {sec for _, sec in origins if sec}
    if len(distinct) > 1:
        listed = ", ".join(f"{url} ({sec:.3f} s)" for url, sec in origins)
        raise HomecatError(
            f"{file_name}: its media files have different TIME_ORIGINs ({listed}) and none is {rel_path}; "
            "pass --offset-sec for the recording instead."
        )
    return distinct.pop() if distinct else 0.0


def _stem(url: str) -> str:
    """The file stem of a media URL (file:///..., a POSIX or Windows path)."""
    if not url:
        return ""
    path = url.removeprefix("file://")
    return PureWindowsPath(path).stem if "\\" in path else PurePosixPath(path).stem
