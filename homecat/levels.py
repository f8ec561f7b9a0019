"""Streaming level statistics of one recording, in dBFS: what `homecat validate` computes from the samples.

``Levels`` is fed the float32 (frames, channels) blocks of ``audio.iter_blocks`` one at a time and keeps
two numbers per window (sum of squares, peak) plus a few whole-file sums, so memory does not grow with
the recording's length. ``Levels.stats`` then derives the whole-file levels, the noise floor and the
activity threshold: a window is active when its RMS reaches ``max(noise floor + margin, absolute floor)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from homecat import audio

SILENCE_DBFS = -120.0  # the level written for windows of digital zeros
# At most this many channel samples per block (32 MiB as float32): a 64-channel 768 kHz file would
# otherwise read 10 s blocks of ~2 GiB.
_MAX_BLOCK_SAMPLES = 1 << 23

# Sum of squares per window in one fused pass: np.vecdot (numpy >= 2) is about twice as fast as
# einsum("ij,ij->i") and more accurate, and, unlike matmul, does not start BLAS threads.
_row_dot = getattr(np, "vecdot", None) or (lambda a, b: np.einsum("ij,ij->i", a, b))


class Levels:
    """Per-window and whole-file levels, accumulated one block at a time.

    Each sample is read by four passes over its window, each in cache (sum of squares, max, min,
    sum); clipped samples are counted only in windows whose extremes reach the clip level.
    """

    def __init__(
        self,
        sample_rate: int,
        window_sec: float,
        block_sec: float,
        channel_policy: str | int,
        clip_level: float,
        channels: int = 1,
    ):
        self.window_frames = max(1, audio.seconds_to_frames(window_sec, sample_rate))
        # Blocks are whole windows, so only the file's last window can be partial.
        windows_per_block = min(round(block_sec / window_sec), _MAX_BLOCK_SAMPLES // (self.window_frames * channels))
        self.block_frames = self.window_frames * max(1, windows_per_block)
        self.sample_rate = sample_rate
        self.window_sec = window_sec
        self.channel_policy = channel_policy
        self.clip_level = clip_level
        self.frames = 0
        self.samples = 0  # channel samples: frames x channels
        self.clipped = 0  # channel samples at or above the clip level
        self.sum = 0.0  # of the down-mixed samples
        self.sum_sq = 0.0
        self.peak = 0.0
        self.rms_dbfs = np.zeros(0, np.float32)  # per window, set by finish()
        self.peak_dbfs = np.zeros(0, np.float32)
        self._sum_sq: list[np.ndarray] = []
        self._peak: list[np.ndarray] = []
        self._carry: np.ndarray | None = None
        self._clips_in_windows = True  # mono: the windows hold every channel sample, so count clips there

    def add(self, block: np.ndarray) -> None:
        self.frames += len(block)
        self.samples += block.size
        if block.ndim > 1 and block.shape[1] > 1:
            # Clipping is per channel sample, and the windows only see the mix: count on the block,
            # only when its extremes reach the clip level.
            self._clips_in_windows = False
            if block.max() >= self.clip_level or -block.min() >= self.clip_level:
                self.clipped += int(np.count_nonzero(np.abs(block) >= self.clip_level))
        mono = audio.to_mono(block, self.channel_policy)
        if self._carry is not None:
            mono = np.concatenate([self._carry, mono])
            self._carry = None
        whole = len(mono) // self.window_frames * self.window_frames
        if whole < len(mono):
            self._carry = mono[whole:].copy()
        if whole:
            self._window(mono[:whole].reshape(-1, self.window_frames))

    def finish(self) -> None:
        if self._carry is not None and len(self._carry):
            self._window(self._carry.reshape(1, -1))
            self._carry = None
        sum_sq = np.concatenate(self._sum_sq) if self._sum_sq else np.zeros(0)
        peak = np.concatenate(self._peak) if self._peak else np.zeros(0, np.float32)
        lengths = np.full(len(sum_sq), self.window_frames, dtype=np.float64)
        if len(lengths):
            lengths[-1] = self.frames - self.window_frames * (len(lengths) - 1)
        self.rms_dbfs = dbfs(np.sqrt(sum_sq / np.maximum(lengths, 1))).astype(np.float32)
        self.peak_dbfs = dbfs(peak.astype(np.float64)).astype(np.float32)

    def _window(self, windows: np.ndarray) -> None:
        # float32 sums of one window (<= a few 10^5 values) are accurate to far below 0.01 dB;
        # they are added up across windows in float64.
        sum_sq = _row_dot(windows, windows).astype(np.float64)
        high = windows.max(axis=1)
        low = windows.min(axis=1)
        peak = np.maximum(high, -low)
        self._sum_sq.append(sum_sq)
        self._peak.append(peak)
        # einsum's row sums are ~3x faster than ndarray.sum (pairwise); float32 per window, float64 across
        self.sum += float(np.einsum("ij->i", windows).sum(dtype=np.float64))
        self.sum_sq += float(sum_sq.sum())
        self.peak = max(self.peak, float(peak.max()))
        if self._clips_in_windows:
            hot = peak >= self.clip_level
            if hot.any():
                self.clipped += int(np.count_nonzero(np.abs(windows[hot]) >= self.clip_level))

    def stats(self, noise_percentile: float, margin_db: float, silence_floor_dbfs: float) -> dict[str, Any]:
        """Whole-file levels and activity (the ``audio_stats`` columns), after ``finish``."""
        rms = self.rms_dbfs
        n = len(rms)
        if n:
            noise_floor = float(np.percentile(rms, noise_percentile))
            threshold, source = activity_threshold(noise_floor, margin_db, silence_floor_dbfs)
            active = rms >= threshold
            window_len = np.full(n, self.window_sec)
            window_len[-1] = self.frames / self.sample_rate - self.window_sec * (n - 1)
            active_sec = float(window_len[active].sum())
            silent_fraction = float(1.0 - active.mean())
        else:
            noise_floor = threshold = None
            source = None
            active_sec = 0.0
            silent_fraction = None
        mono_frames = max(self.frames, 1)
        return {
            "rms_dbfs": float(dbfs(np.sqrt(self.sum_sq / mono_frames))) if self.frames else None,
            "peak_dbfs": float(dbfs(self.peak)) if self.frames else None,
            "dc_offset": self.sum / mono_frames if self.frames else None,
            "clip_fraction": self.clipped / self.samples if self.samples else None,
            "noise_floor_dbfs": noise_floor,
            "activity_threshold_dbfs": threshold,
            "threshold_source": source,
            "silent_fraction": silent_fraction,
            "active_sec": active_sec,
            "max_window_rms_dbfs": float(rms.max()) if n else None,
        }


def activity_threshold(noise_floor_dbfs: float, margin_db: float, silence_floor_dbfs: float) -> tuple[float, str]:
    """The level a window's RMS must reach to be active, and which bound decided ('relative' or 'absolute')."""
    relative_dbfs = noise_floor_dbfs + margin_db
    threshold_dbfs = max(relative_dbfs, silence_floor_dbfs)
    return threshold_dbfs, "relative" if relative_dbfs >= silence_floor_dbfs else "absolute"


def dbfs(linear: np.ndarray | float) -> np.ndarray | float:
    """20·log10 of a linear amplitude (full scale 1.0), floored at ``SILENCE_DBFS`` for zeros."""
    with np.errstate(divide="ignore"):
        return np.maximum(20.0 * np.log10(linear), SILENCE_DBFS)
