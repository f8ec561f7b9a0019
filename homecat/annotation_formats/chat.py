"""CHAT transcripts (.cha: CHILDES, HomeBank), read by pylangacq as ChildProject's converter reads them.

An utterance line ``*MOT:\ttext . \\x151200_3450\\x15`` ends with a media bullet: its start and end in
milliseconds (CHAT manual, "Media linkage"). Each utterance with a bullet becomes one segment labelled
with its speaker code, in a tier named after the speaker (``--tier MOT`` keeps one speaker). An
utterance without a bullet has no place in the audio: it is left out and counted in one note line.
The transcript's ``@Media`` header names its recording (a file name without extension).
Dependent tiers (%mor, %com, …) are not segments.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from homecat.annotation_formats import Annotation, Read, check_tiers_exist, span
from homecat.errors import HomecatError, first_line

CHAT_SUFFIX = ".cha"


def read_chat(path: Path, tiers: Sequence[str] = ()) -> Read:
    try:
        import pylangacq
    except ImportError:
        raise HomecatError(
            f"{path.name}: CHAT files need the pylangacq package: pip install 'homecat[chat]'."
        ) from None
    try:
        # strict=False: a transcript renamed after its @Media (P01_a.cha for day1) is still read
        chat = pylangacq.read_chat(str(path), strict=False)
        utterances = chat.utterances()
        media = (chat.headers()[0].media or {}).get("filename") if chat.headers() else None
    except Exception as exc:  # OSError on non-UTF-8 bytes; the reader's own errors on malformed files
        raise HomecatError(f"{path.name} cannot be read as a CHAT file ({first_line(exc)}).") from None
    if not utterances:
        raise HomecatError(f"{path.name} has no utterances ('*SPEAKER:' lines): it is not a CHAT transcript.")
    speakers = {u.participant for u in utterances}
    if tiers:
        check_tiers_exist(path.name, tiers, speakers)
    read = Read(media_name=media or None)
    without_bullet = 0
    for number, utterance in enumerate(utterances, start=1):
        speaker = utterance.participant
        if tiers and speaker not in tiers:
            continue
        if not utterance.time_marks:
            without_bullet += 1
            continue
        start_ms, end_ms = utterance.time_marks
        start, end = start_ms / 1000, end_ms / 1000
        where = f"utterance {number} (*{speaker}){span(start, end)}"
        read.annotations.append(Annotation(where, start, end, speaker, speaker))
    if without_bullet:
        read.notes.append(
            f"{path.name}: {without_bullet} utterance{'s' * (without_bullet != 1)} without a time bullet "
            f"{'were' if without_bullet != 1 else 'was'} left out (a bullet is what places an utterance in the audio)."
        )
    return read
