"""Where a crop starts: the policies (speech, energy, uniform) and the level that tells a silent crop.

Pure functions of a ``CropIndex`` and a random generator; see ``homecat.crops`` for how they combine.
"""

from __future__ import annotations

import math

import numpy as np

from homecat import audio
from homecat.crops.index import CropIndex, covered

POLICY_PARTS = ("speech", "energy", "uniform")  # the order a mixture's weights are laid out in
_SILENCE_FLOOR_DBFS = -120.0


def speech_start_ranges(
    starts: np.ndarray, ends: np.ndarray, crop_sec: float, max_start_sec: float, share: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Where a crop of ``crop_sec`` may start (``lo[j] <= s <= hi[j]``) so that at least ``share`` of it is
    speech, or the most speech any start reaches when none gets that far; None without any speech in reach.

    Exact, not on a grid: a crop's speech seconds are piecewise linear in its start, with corners
    where either edge meets a turn's start or end, so each piece between corners is solved in closed form.
    """
    if len(starts) == 0 or max_start_sec < 0:
        return None
    corners = np.concatenate([[0.0, max_start_sec], starts, ends, starts - crop_sec, ends - crop_sec])
    corners = np.unique(np.clip(corners, 0.0, max_start_sec))
    speech = covered(starts, ends, corners + crop_sec) - covered(starts, ends, corners)
    best = float(speech.max())
    if best <= 1e-9:
        return None
    need = min(share * crop_sec, best) - 1e-9
    if len(corners) == 1:
        return corners, corners
    x0, x1, v0, v1 = corners[:-1], corners[1:], speech[:-1], speech[1:]
    slope = np.where(v1 != v0, (x1 - x0) / np.where(v1 != v0, v1 - v0, 1.0), 0.0)
    crossing = x0 + (need - v0) * slope  # where the piece reaches `need`
    lo = np.where(v0 >= need, x0, crossing)
    hi = np.where(v1 >= need, x1, crossing)
    keep = (v0 >= need) | (v1 >= need)
    lo, hi = lo[keep], hi[keep]
    if np.sum(hi - lo) <= 0:  # only single points reach it: keep those
        points = corners[speech >= need]
        return points, points
    return lo, hi


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS, floored at -120 (digital silence)."""
    if samples.size == 0:
        return _SILENCE_FLOOR_DBFS
    power = float(np.mean(np.square(samples, dtype=np.float64)))
    return max(_SILENCE_FLOOR_DBFS, 10 * math.log10(power)) if power > 0 else _SILENCE_FLOOR_DBFS


def choose_start(index: CropIndex, i: int, read_frames: int, activity_aware: bool, rng: np.random.Generator) -> int:
    """A start frame for a crop of ``read_frames`` frames of recording ``i``.

    Activity-aware: a window that is active and where a crop can still start (not in the last
    crop's length) is chosen uniformly, then a start inside it; no such window: uniform.
    """
    sr = int(index.sample_rate[i])
    max_start = max(0, int(index.frames[i]) - read_frames)
    if activity_aware:
        active = index.active(i)
        window_sec = float(index.window_sec[i])
        # windows are sorted: those starting at or before max_start come first
        usable = int(np.searchsorted(active, max_start / sr / window_sec, side="right")) if window_sec > 0 else 0
        if usable:
            window = int(active[rng.integers(usable)])
            start_sec = (window + rng.random()) * window_sec
            return min(audio.seconds_to_frames(start_sec, sr), max_start)
    return int(rng.integers(max_start + 1))
