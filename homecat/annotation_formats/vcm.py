"""The VCM classifier's output (``.vcm``): RTTM lines whose speaker field is a vocal maturity class.

VCM (Al Futaisi et al. 2019) classifies the key child's vocalisations as canonical (``CNS``),
non-canonical (``NCS``), crying (``CRY``) or other (``OTH``) and keeps the voice type classifier's
other voices (``CHI`` for another child, ``FEM``, ``MAL``). Read as ChildProject's VcmConverter reads
it: ``vcm_type`` is C, N, Y or J for CNS, NCS, CRY, OTH, and ``speaker_type`` is CHI for the key
child's classes, OCH for CHI, FEM, MAL (and nothing for OTH, as ChildProject has it). Each line gives a
segment in tier ``vcm_type`` (label C/N/Y/J) where it has one and one in tier ``speaker_type`` where it
has one: the layout of a ChildProject VCM set imported with ``--label-column vcm_type`` or
``speaker_type``. The recording is the RTTM file-id (a recording_id, rel_path or unique file stem).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from homecat.annotation_formats import Annotation, Read, check_tiers_exist, span
from homecat.errors import HomecatError

VCM_SUFFIX = ".vcm"
VCM_TYPE = {"CNS": "C", "NCS": "N", "CRY": "Y", "OTH": "J"}  # ChildProject's VCM_TRANSLATION
SPEAKER_TYPE = {"CHI": "OCH", "CRY": "CHI", "NCS": "CHI", "CNS": "CHI", "FEM": "FEM", "MAL": "MAL"}
TIERS = ("vcm_type", "speaker_type")


def read_vcm(path: Path, tiers: Sequence[str] = ()) -> Read:
    if tiers:
        check_tiers_exist(path.name, tiers, set(TIERS))
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise HomecatError(f"{path.name} cannot be read as VCM output ({exc}).") from None
    read = Read()
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if not fields or fields[0].startswith((";", "#")):
            continue
        where = f"line {number}"
        problem = None
        if fields[0] != "SPEAKER" or len(fields) not in (9, 10):
            problem = "expected an RTTM line 'SPEAKER file-id channel onset duration <NA> <NA> class <NA> <NA>'"
        elif fields[7] not in VCM_TYPE and fields[7] not in SPEAKER_TYPE:
            problem = f"'{fields[7]}' is not a VCM class ({', '.join(sorted({*VCM_TYPE, *SPEAKER_TYPE}))})"
        if problem:
            read.annotations.append(Annotation(where, None, None, "", "", problem=problem))
            continue
        file_id, onset, duration, name = fields[1], fields[3], fields[4], fields[7]
        try:
            start, length = float(onset), float(duration)
        except ValueError:
            start = length = math.nan
        if not (math.isfinite(start) and math.isfinite(length) and length >= 0):
            bad = f"onset '{onset}' and duration '{duration}' must be numbers of seconds (duration 0 or more)"
            read.annotations.append(Annotation(where, None, None, "", "", recording=file_id, problem=bad))
            continue
        # ChildProject's rounding: onset and onset + duration, each to the millisecond
        start_sec, end_sec = round(start * 1000) / 1000, round((start + length) * 1000) / 1000
        where = f"line {number}{span(start_sec, end_sec)}"
        for tier, label in (("vcm_type", VCM_TYPE.get(name)), ("speaker_type", SPEAKER_TYPE.get(name))):
            if label is not None and (not tiers or tier in tiers):
                read.annotations.append(Annotation(where, start_sec, end_sec, label, tier, recording=file_id))
    return read
