"""Readers of the annotation file formats of this field, one module each, for `homecat segments import`.

Each reader turns one file into ``Annotation``s (times in seconds as the file places them, before any
offset; None where the file gives none) and notes (one line each, for things the reader settled that a
user should hear about). Checking them against the catalog is segments.py's work.

- ``eaf``: ELAN, with its untimed annotations placed as ELAN places them and the tier hierarchy kept.
- ``textgrid``: Praat, tiers of one name kept apart.
- ``chat``: CHAT transcripts (CHILDES, HomeBank) through pylangacq: one segment per bulleted utterance.
- ``alice``: ALICE's per-utterance adult word, syllable and phoneme counts.
- ``vcm``: the VCM classifier's RTTM (vocal maturity classes), read as ChildProject's converter reads it.

This package never imports typer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from homecat.errors import HomecatError


@dataclass(frozen=True)
class Annotation:
    """One interval as a file gives it."""

    where: str  # how a person finds it in the file: "tier 'words' annotation 3 (1.200-1.500 s)"
    start_sec: float | str | None
    end_sec: float | str | None
    label: str
    tier: str
    parent_tier: str = ""  # ELAN: the tier this one depends on
    recording: str | None = None  # formats that name their recording per row (ALICE, VCM): that name
    problem: str | None = None  # why the reader could not make an interval of it (a malformed line)


@dataclass
class Read:
    """What a reader found in one file."""

    annotations: list[Annotation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    descriptors: list[dict] = field(default_factory=list)  # ELAN media and linked-file descriptors
    media_name: str | None = None  # CHAT's @Media: the recording's file name without extension


def span(start: float | None, end: float | None) -> str:
    """' (1.200-1.500 s)' for messages, or '' when a time is missing."""
    try:
        return f" ({float(start):.3f}-{float(end):.3f} s)"  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return ""


def check_tiers_exist(name: str, wanted: Sequence[str], present: set[str]) -> None:
    """Refuse a --tier the file lacks, naming the tiers it has (both compared stripped, as tiers are stored)."""
    stripped = {t.strip() for t in present}
    absent = [t for t in wanted if t.strip() not in stripped]
    if absent:
        have = ", ".join(f"'{t}'" for t in sorted(stripped)) or "none"
        raise HomecatError(f"{name} has no tier {', '.join(repr(t) for t in absent)} (its tiers: {have}).")


def chosen_tiers(name: str, wanted: Sequence[str], present: Sequence[str]) -> list[str]:
    """The tier names of a file (as it writes them) that ``--tier`` options pick, all when there are none.

    Tiers are stored and shown stripped ('    CHI*' is CHI*), so that is how --tier names them.
    """
    if not wanted:
        return list(present)
    check_tiers_exist(name, wanted, set(present))
    picked = {t.strip() for t in wanted}
    return [t for t in present if t.strip() in picked]
