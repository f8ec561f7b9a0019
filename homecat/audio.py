"""All audio I/O lives here: the only module that imports soundfile or soxr.

Everything else calls these few entry points, in frames and seconds with explicit units:
``read_header`` (no samples), ``iter_blocks`` (stream a whole file block by block),
``read_window`` (seek + read one window), ``to_mono`` / ``resample`` and ``write_audio``
(used only by the demo-corpus generator; raw recordings are never opened for writing).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# Reading 1 MiB at a time keeps hashing fast without holding a file in memory.
_HASH_BLOCK_BYTES = 1 << 20
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command code (sndfile.h)


class AudioReadError(Exception):
    """The audio library could not open or read a file; the message is the library's."""


@dataclass(frozen=True)
class AudioHeader:
    """What a file's header says, without reading any samples."""

    format: str
    subtype: str
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_sec(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def seconds_to_frames(seconds: float, sample_rate: int) -> int:
    """The one place seconds become frames (rounded to the nearest frame)."""
    return int(round(seconds * sample_rate))


def read_header(path: str | os.PathLike) -> AudioHeader:
    """Read the header of ``path`` (opens the file read-only, reads no samples)."""
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(_clean_message(exc)) from exc
    return AudioHeader(
        format=info.format,
        subtype=info.subtype,
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
    )


def iter_blocks(path: str | os.PathLike, block_frames: int) -> Iterator[np.ndarray]:
    """Yield float32 blocks of shape (frames, channels) until the file ends.

    Memory is one block, whatever the file's length. A read that fails part-way raises
    ``AudioReadError`` after the blocks already yielded (callers count what they got).
    """
    try:
        with sf.SoundFile(str(path)) as f:
            while True:
                block = f.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    return
                yield block
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(_clean_message(exc)) from exc


def read_window(path: str | os.PathLike, start_frame: int, num_frames: int) -> np.ndarray:
    """Seek to ``start_frame`` and read at most ``num_frames`` frames as float32 (frames, channels).

    Only that window is read (``SoundFile.seek`` + ``read``), for WAV and FLAC alike.
    """
    try:
        with sf.SoundFile(str(path)) as f:
            f.seek(start_frame)
            return f.read(num_frames, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError, ValueError) as exc:
        raise AudioReadError(_clean_message(exc)) from exc


def to_mono(block: np.ndarray, channel_policy: str | int) -> np.ndarray:
    """Down-mix a (frames, channels) block to 1-D by the configured policy.

    ``mean`` averages the channels, ``first`` keeps channel 0, an integer keeps that channel
    (clamped to the last channel a file has, so a 2-channel index on a mono file still works).
    """
    if block.ndim == 1:
        return block
    if channel_policy == "mean":
        return block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
    index = 0 if channel_policy == "first" else min(int(channel_policy), block.shape[1] - 1)
    return block[:, index]


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample 1-D float32 audio with soxr (high quality); a no-op at equal rates."""
    if from_rate == to_rate:
        return samples
    import soxr  # imported here: only crops and later stages pay for it

    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of the file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_BLOCK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def write_audio(
    path: str | os.PathLike,
    blocks: Iterator[np.ndarray],
    sample_rate: int,
    channels: int,
    subtype: str = "PCM_16",
    format: str | None = None,
) -> None:
    """Write blocks of float32 (frames, channels) audio to a new file.

    Only the demo-corpus generator writes audio, and only into its own new folder.
    """
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(
        str(path), mode="w", samplerate=sample_rate, channels=channels, subtype=subtype, format=format
    ) as f:
        if subtype in ("FLOAT", "DOUBLE"):
            # libsndfile stamps float WAVs with a PEAK chunk holding the wall-clock time; without it the
            # same input gives byte-identical files (the demo corpus relies on that).
            sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, 0)
        for block in blocks:
            f.write(block)


def _clean_message(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
