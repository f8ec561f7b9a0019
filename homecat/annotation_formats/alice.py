"""ALICE output (``ALICE_output_utterances.txt``): adult word, syllable and phoneme counts per utterance.

ALICE (Räsänen et al. 2021) cuts each adult voice segment the voice type classifier found into a WAV
named ``<recording>_<onset>_<offset>.wav`` and writes one line per segment: that name, then the
estimated phoneme, syllable and word counts, separated by white space. Read as ChildProject's
AliceConverter reads it: the recording is the name before the last two numbers, which are times in
tenths of a millisecond (ChildProject divides them by 10 to get ms).

Each line gives three segments over the utterance, one per count, in tiers ``phonemes``, ``syllables``
and ``words`` with the count as the label: the layout of a ChildProject ALICE set imported with
``--label-column words`` (``--tier words`` keeps only the word counts). One file may cover many
recordings.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from pathlib import Path

from homecat.annotation_formats import Annotation, Read, check_tiers_exist, span
from homecat.errors import HomecatError

COUNTS = ("phonemes", "syllables", "words")  # the file's column order
_NAME = re.compile(r"^(.*)_(?:0+)?([0-9]{1,})_(?:0+)?([0-9]{1,})\.wav$")  # ChildProject's pattern
_TICKS_PER_SEC = 10_000  # the file name's times: tenths of a millisecond


def looks_like_alice(path: Path) -> bool:
    """Whether a .txt file is ALICE output (its first line a segment name and three counts), not a table."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            first = next((line for line in f if line.strip()), "")
    except (OSError, UnicodeDecodeError):
        return False
    fields = first.split()
    return len(fields) == 4 and _NAME.match(fields[0]) is not None


def read_alice(path: Path, tiers: Sequence[str] = ()) -> Read:
    if tiers:
        check_tiers_exist(path.name, tiers, set(COUNTS))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HomecatError(f"{path.name} cannot be read as ALICE output ({exc}).") from None
    read = Read()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        where = f"line {number}"
        match = _NAME.match(fields[0])
        problem = None
        if len(fields) != 4:
            problem = f"expected 4 fields (segment file, phonemes, syllables, words), found {len(fields)}"
        elif match is None:
            problem = f"'{fields[0]}' is not a segment file name <recording>_<onset>_<offset>.wav"
        if problem:
            read.annotations.append(Annotation(where, None, None, "", "", problem=problem))
            continue
        recording = match.group(1)
        start, end = int(match.group(2)) / _TICKS_PER_SEC, int(match.group(3)) / _TICKS_PER_SEC
        if end <= start:  # one problem for the line, not one per count
            problem = "the segment ends before it starts" if end < start else "the segment has no length"
            read.annotations.append(Annotation(f"{where}{span(start, end)}", None, None, "", "", problem=problem))
            continue
        for tier, count in zip(COUNTS, fields[1:]):
            if tiers and tier not in tiers:
                continue
            try:
                value = float(count)
            except ValueError:
                value = math.nan
            bad = (
                None
                if math.isfinite(value) and value >= 0
                else f"the {tier} count '{count}' is not a number (0 or more)"
            )
            where = f"line {number} {tier}{span(start, end)}"
            read.annotations.append(Annotation(where, start, end, count, tier, recording=recording, problem=bad))
    return read
