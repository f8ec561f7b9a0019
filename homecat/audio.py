"""All audio I/O lives here: the only module that imports soundfile or soxr.

Everything else calls these few entry points, in frames and seconds with explicit units:
``read_header`` (no samples), ``iter_blocks`` (stream a whole file block by block),
``read_window`` (seek + read one window), ``to_mono`` / ``resample`` and ``write_audio``
(used only by the demo-corpus generator; raw recordings are never opened for writing).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# Reading 1 MiB at a time keeps hashing fast without holding a file in memory.
_HASH_BLOCK_BYTES = 1 << 20
_SFC_SET_ADD_PEAK_CHUNK = 0x1050  # libsndfile's sf_command code (sndfile.h)
# After a decoder error, the failed block is read again in pieces halved down to this many frames
# (64 ms at 16 kHz; a FLAC frame is 4096): the readable length is known to within one piece.
_SALVAGE_FRAMES = 1024

# What a header may claim before homecat believes it. Blocks, windows and buffers are sized from the
# rate and channel count, so a garbage header (a rate of 1.2 GHz) would otherwise allocate tens of GiB.
MIN_SAMPLE_RATE = 1000
MAX_SAMPLE_RATE = 768_000  # the highest rate studio converters offer
MAX_CHANNELS = 64
# A compressed frame costs at least this many bytes' worth of frames: FLAC's densest case (digital
# silence, constant subframes) stores a few hundred frames per byte; more than this is a lying header.
_MAX_FRAMES_PER_BYTE = 4096
_BYTES_PER_SAMPLE = {
    "PCM_S8": 1,
    "PCM_U8": 1,
    "ULAW": 1,
    "ALAW": 1,
    "PCM_16": 2,
    "PCM_24": 3,
    "PCM_32": 4,
    "FLOAT": 4,
    "DOUBLE": 8,
}
_FILE_KINDS = {
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
    stat.S_IFDIR: "a folder",
}


class AudioReadError(Exception):
    """The audio library could not open or read a file; the message is the library's."""


class AudioPermissionError(AudioReadError):
    """The file exists but this user may not read it."""


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


def not_regular(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is not a regular file ('a FIFO (named pipe)', ...), else None."""
    if stat.S_ISREG(mode):
        return None
    return _FILE_KINDS.get(stat.S_IFMT(mode), "not a regular file")


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[sf.SoundFile]:
    """A SoundFile on a regular file whose header values are believable, opened through our own descriptor.

    Opening with O_NONBLOCK and checking ``fstat`` before libsndfile reads a byte means a FIFO or
    device named .wav is refused instead of blocking forever (and no stat-then-open race); a
    descriptor also opens names that are not valid UTF-8, which soundfile cannot encode. The header
    is checked here, so no caller sizes a buffer from a rate, channel count or length it cannot hold.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except PermissionError as exc:
        raise AudioPermissionError(f"permission denied ({exc.strerror})") from exc
    except OSError as exc:
        raise AudioReadError(_clean_message(exc)) from exc
    try:
        info = os.fstat(fd)
        kind = not_regular(info.st_mode)
        if kind:
            raise AudioReadError(f"it is {kind}, not a regular file")
        os.set_blocking(fd, True)
        try:
            f = sf.SoundFile(fd, closefd=False)
        except sf.LibsndfileError as exc:  # its prefix names the descriptor ("Error opening 3: "), not the file
            raise AudioReadError(_clean_message(exc.error_string)) from exc
        except (RuntimeError, OSError, ValueError) as exc:
            raise AudioReadError(_clean_message(exc)) from exc
        with f:
            problem = header_problem(_header_of(f), info.st_size)
            if problem:
                raise AudioReadError(problem)
            yield f
    finally:
        os.close(fd)


def _header_of(f: sf.SoundFile) -> AudioHeader:
    return AudioHeader(
        format=f.format,
        subtype=f.subtype,
        sample_rate=int(f.samplerate),
        channels=int(f.channels),
        frames=int(f.frames),
    )


def read_header(path: str | os.PathLike) -> AudioHeader:
    """Read the header of ``path`` (opens the file read-only, reads no samples) and check its values.

    Raises ``AudioReadError`` for a header that claims what no recording has (a rate or channel
    count out of range, more frames than the file's bytes can hold), or for a file that is not a
    regular file (``AudioPermissionError`` when this user may not read it).
    """
    with _open(path) as f:
        return _header_of(f)


def header_problem(header: AudioHeader, size_bytes: int) -> str | None:
    """Why a header's values cannot be believed, as a clause; None when they can."""
    if not MIN_SAMPLE_RATE <= header.sample_rate <= MAX_SAMPLE_RATE:
        return (
            f"its header claims a sample rate of {header.sample_rate} Hz, outside "
            f"{MIN_SAMPLE_RATE}-{MAX_SAMPLE_RATE} Hz"
        )
    if not 1 <= header.channels <= MAX_CHANNELS:
        return f"its header claims {header.channels} channels, outside 1-{MAX_CHANNELS}"
    if header.frames <= 0:
        return None
    per_sample = _BYTES_PER_SAMPLE.get(header.subtype) if header.format in ("WAV", "WAVEX", "AIFF", "RF64") else None
    if per_sample and header.frames * header.channels * per_sample > size_bytes:
        return f"its header claims {header.frames} frames, more than its {size_bytes} bytes can hold"
    if header.frames > size_bytes * _MAX_FRAMES_PER_BYTE:
        return f"its header claims {header.frames} frames, far more than its {size_bytes} bytes can hold"
    return None


def iter_blocks(path: str | os.PathLike, block_frames: int) -> Iterator[np.ndarray]:
    """Yield float32 blocks of shape (frames, channels) until the file ends.

    Memory is one block, whatever the file's length. A read that fails part-way raises
    ``AudioReadError`` after the blocks already yielded (callers count what they got). A decoder
    error loses the whole block being read, so the block is read again in halves, then quarters, ...
    down to ``_SALVAGE_FRAMES``: a FLAC broken at 9.9 s yields ~9.9 s, not the 0 s of its first 10 s block.
    16-bit PCM is read as int16 and scaled here (the same values libsndfile returns, x / 32768):
    libsndfile's own float conversion is several times slower than reading the file.
    """
    position = 0  # frames yielded so far
    step = block_frames
    while True:
        try:
            with _open(path) as f:
                if position:
                    f.seek(position)
                # int16 samples land in one reused buffer; each yielded float32 block is a new array
                int16_buffer = np.empty((step, f.channels), np.int16) if f.subtype == "PCM_16" else None
                while True:
                    if int16_buffer is not None:
                        block = f.read(step, dtype="int16", always_2d=True, out=int16_buffer).astype(np.float32)
                        block *= np.float32(1.0 / 32768.0)
                    else:
                        block = f.read(step, dtype="float32", always_2d=True)
                    if len(block) == 0:
                        return
                    position += len(block)
                    yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            if step <= _SALVAGE_FRAMES:
                raise AudioReadError(_clean_message(exc)) from exc
            step = max(_SALVAGE_FRAMES, step // 2)  # reopen at the first frame not yet yielded
        except (OSError, ValueError) as exc:
            raise AudioReadError(_clean_message(exc)) from exc


def read_window(path: str | os.PathLike, start_frame: int, num_frames: int) -> np.ndarray:
    """Seek to ``start_frame`` and read at most ``num_frames`` frames as float32 (frames, channels).

    Only that window is read (``SoundFile.seek`` + ``read``), for WAV and FLAC alike.
    """
    if num_frames < 0:  # soundfile reads a negative count as "to the end of the file": hours of audio
        raise ValueError(f"read_window of {path}: num_frames must not be negative, got {num_frames}")
    try:
        with _open(path) as f:
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
        if block.shape[1] == 1:
            return block[:, 0]
        # column by column: ~8x faster than block.mean(axis=1) on a (frames, 2) block, same values
        mixed = block[:, 0].astype(np.float32, copy=True)
        for channel in range(1, block.shape[1]):
            mixed += block[:, channel]
        mixed /= np.float32(block.shape[1])
        return mixed
    index = 0 if channel_policy == "first" else min(int(channel_policy), block.shape[1] - 1)
    return block[:, index]


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample 1-D float32 audio with soxr (high quality); a no-op at equal rates."""
    if from_rate == to_rate:
        return samples
    import soxr  # imported here: only crops and later stages pay for it

    return soxr.resample(samples, from_rate, to_rate, quality="HQ").astype(np.float32, copy=False)


def iter_mono_blocks(
    path: str | os.PathLike, block_frames: int, channel_policy: str | int, to_rate: int
) -> Iterator[np.ndarray]:
    """Stream a whole file as 1-D float32 blocks at ``to_rate``: down-mixed, resampled without seams.

    One soxr stream carries the filter state from block to block, so the result equals resampling
    the whole file at once, while memory stays one block whatever the file's length.
    """
    from_rate = read_header(path).sample_rate
    if from_rate == to_rate:
        for block in iter_blocks(path, block_frames):
            yield to_mono(block, channel_policy)
        return
    import soxr

    stream = soxr.ResampleStream(from_rate, to_rate, 1, dtype="float32", quality="HQ")
    for block in iter_blocks(path, block_frames):
        out = stream.resample_chunk(np.ascontiguousarray(to_mono(block, channel_policy)))
        if len(out):
            yield out
    tail = stream.resample_chunk(np.zeros(0, np.float32), last=True)
    if len(tail):
        yield tail


def file_sha1(path: str | os.PathLike) -> str:
    """SHA-1 of the file's bytes, read 1 MiB at a time."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_BLOCK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


# How many leading and trailing bytes ``content_digest`` hashes.
_DIGEST_EDGE_BYTES = 64 * 1024
# Full-scale distance of one quantisation step, by subtype (float subtypes clip at |x| >= 1).
_QUANT_STEP = {
    "PCM_S8": 2.0**-7,
    "PCM_U8": 2.0**-7,
    "PCM_16": 2.0**-15,
    "PCM_24": 2.0**-23,
    "PCM_32": 2.0**-31,
    "ALAW": 2.0**-12,
    "ULAW": 2.0**-13,
}


def clip_level(subtype: str | None) -> float:
    """Magnitude from which a float32 sample of this subtype counts as clipped.

    Integer PCM: full scale minus one quantisation step (a 16-bit file's +32767 reads as
    1 - 2**-15); float and unknown subtypes: 1.0.
    """
    return float(np.float32(1.0 - _QUANT_STEP.get(subtype or "", 0.0)))


@dataclass(frozen=True)
class WavLayout:
    """What a RIFF/RF64 WAV header declares about its own size (read from the chunk headers only)."""

    form: str  # 'RIFF' or 'RF64'
    riff_bytes: int  # the RIFF chunk size field (file size - 8 when consistent)
    data_offset: int  # where the samples start
    data_bytes: int  # the data chunk size field (RF64: from ds64)
    block_align: int  # bytes per frame
    file_bytes: int

    @property
    def declared_frames(self) -> int:
        return self.data_bytes // self.block_align if self.block_align else 0


def wav_layout(path: str | os.PathLike) -> WavLayout | None:
    """Parse a WAV file's chunk headers (seeking past chunk bodies); None if it is not RIFF/RF64 WAV.

    libsndfile caps a truncated WAV's frame count to the bytes present, so only the header's own
    data-chunk size tells how long the recording was meant to be.
    """
    with open(path, "rb") as f:
        file_bytes = os.fstat(f.fileno()).st_size
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RF64") or head[8:12] != b"WAVE":
            return None
        form = head[:4].decode()
        riff_bytes = int.from_bytes(head[4:8], "little")
        block_align = 0
        ds64_data_bytes = None
        position = 12
        for _ in range(1000):  # a WAV has a handful of chunks; stop on garbage
            f.seek(position)
            chunk = f.read(8)
            if len(chunk) < 8:
                return None
            chunk_id, size = chunk[:4], int.from_bytes(chunk[4:8], "little")
            if chunk_id == b"ds64":
                body = f.read(min(size, 28))
                riff_bytes = int.from_bytes(body[0:8], "little")
                ds64_data_bytes = int.from_bytes(body[8:16], "little")
            elif chunk_id == b"fmt ":
                body = f.read(min(size, 16))
                block_align = int.from_bytes(body[12:14], "little") if len(body) >= 14 else 0
            elif chunk_id == b"data":
                if form == "RF64" and ds64_data_bytes is not None:
                    size = ds64_data_bytes
                return WavLayout(form, riff_bytes, position + 8, size, block_align, file_bytes)
            position += 8 + size + (size & 1)  # chunks are padded to an even length
        return None


def content_digest(path: str | os.PathLike) -> str:
    """A cheap fingerprint: the size plus the SHA-1 of the first and last 64 KiB of the bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        digest.update(f.read(_DIGEST_EDGE_BYTES))
        if size > _DIGEST_EDGE_BYTES:
            f.seek(max(_DIGEST_EDGE_BYTES, size - _DIGEST_EDGE_BYTES))
            digest.update(f.read(_DIGEST_EDGE_BYTES))
    return f"{size}:{digest.hexdigest()}"


# Extensions of audio that libsndfile reads when its build has the codec (soundfile.available_formats()).
_LIBSNDFILE_EXT = {
    ".wav": "WAV", ".flac": "FLAC", ".mp3": "MP3", ".ogg": "OGG", ".oga": "OGG", ".opus": "OGG",
    ".aif": "AIFF", ".aiff": "AIFF", ".aifc": "AIFF", ".caf": "CAF", ".w64": "W64", ".rf64": "RF64", ".au": "AU",
}  # fmt: skip
# Audio (and video with sound) that only FFmpeg-style decoders read: phones, camcorders, voice recorders.
_FFMPEG_ONLY_EXT = {".m4a", ".aac", ".mp4", ".m4b", ".wma", ".amr", ".3gp", ".3ga", ".webm", ".mov", ".mka", ".ac3"}


def audio_kind(ext: str) -> str:
    """What a file extension (".m4a") is to this machine's libsndfile: "readable" (it decodes it: add it to
    data.allowed_ext), "convert" (audio it cannot decode: convert, e.g. with FFmpeg) or "other" (not audio)."""
    ext = ext.lower()
    if _LIBSNDFILE_EXT.get(ext) in sf.available_formats():
        return "readable"
    if ext in _LIBSNDFILE_EXT or ext in _FFMPEG_ONLY_EXT:
        return "convert"
    return "other"


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


def _clean_message(exc: BaseException | str) -> str:
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())
