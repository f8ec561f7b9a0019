"""Praat .TextGrid files (long or short text format, UTF-8 or UTF-16), parsed by praatio.

Praat lets two tiers share a name; both are kept, the second and later renamed ``name#2``, ``name#3``…
(one note line says so), so neither overwrites the other. Interval numbers in messages are the ones
Praat shows (empty intervals count); empty intervals and point tiers are never segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from homecat.annotation_formats import Annotation, Read, chosen_tiers, span
from homecat.errors import HomecatError, first_line

INTERVAL_TIER = "IntervalTier"


def read_textgrid(path: Path, tiers: Sequence[str] = ()) -> Read:
    from praatio.utilities import textgrid_io

    try:
        data = path.read_bytes()
        # UTF-16 only with its BOM (Praat writes one): a BOM-less UTF-8 file of even length also "decodes" as
        # UTF-16, into nonsense; then UTF-8 (its BOM dropped)
        text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8-sig")
        # the dictionary openTextgrid builds its Textgrid from: every tier, in file order, names as written
        grid = textgrid_io.parseTextgridStr(text, includeEmptyIntervals=True)
    except Exception as exc:  # UnicodeError, praatio's ParsingError, IndexError ... on malformed files
        raise HomecatError(f"{path.name} cannot be read as a Praat TextGrid ({first_line(exc)}).") from None
    read = Read()
    seen: dict[str, int] = {}
    renamed = []
    named = []
    for tier in grid["tiers"]:
        name = tier["name"]
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            new = f"{name}#{seen[name]}"
            while new in seen:
                new += "#"
            seen[new] = 1
            renamed.append(f"'{new}'")
            name = new
        named.append((name, tier))
    if renamed:
        read.notes.append(
            f"{path.name}: tiers that share a name are kept apart as {', '.join(renamed)} (in file order)."
        )
    picked = set(chosen_tiers(path.name, tiers, [n for n, _ in named]))
    named = [(n, t) for n, t in named if n in picked]
    for name, tier in named:
        if tier["class"] != INTERVAL_TIER:
            if tiers:
                raise HomecatError(f"{path.name}: tier '{name}' is a point tier; only interval tiers hold segments.")
            continue  # points have no duration
        for number, (start, end, label) in enumerate(tier["entries"], start=1):
            if not label.strip():
                continue
            where = f"tier '{name}' interval {number}{span(start, end)}"
            read.annotations.append(Annotation(where, start, end, label, name))
    return read
