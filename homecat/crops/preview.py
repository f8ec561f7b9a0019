"""Crops drawn in advance: the fixed dev crops (positions only) and the preview of training crops.

``read_crop`` reads a dev crop exactly as training reads its crops (``CropDataset.read``).
"""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from homecat import audio
from homecat.crops.dataset import Crop, CropDataset, CropSpec
from homecat.crops.index import CropIndex
from homecat.crops.policy import choose_start
from homecat.errors import HomecatError

_DEV_STREAM = 0xDE7  # keeps the dev crops' generators apart from every training stream


def dev_crops(index: CropIndex, n: int, crop_sec: float = 8.0, seed: int = 0) -> list[CropSpec]:
    """``n`` fixed, activity-aware crop positions: the same list for the same index and seed, every time.

    Positions only (no audio is read here); ``read_crop`` reads one. Draw them from a dev-split index.
    """
    if len(index) == 0 or n <= 0:
        return []
    specs = []
    for k in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([seed, _DEV_STREAM, k]))
        i = int(np.searchsorted(index.cum_duration_sec, rng.random() * index.total_sec, side="right"))
        sr = int(index.sample_rate[i])
        start = choose_start(index, i, audio.seconds_to_frames(crop_sec, sr), True, rng)
        specs.append(CropSpec(i, str(index.recording_id[i]), str(index.rel_path[i]), start, start / sr))
    return specs


def read_crop(dataset: CropDataset, spec: CropSpec) -> np.ndarray:
    """The samples of a fixed crop, read exactly as training crops are (raises if the file is unreadable)."""
    samples = dataset.read(spec.recording_index, spec.start_frame)
    if samples is None:
        raise HomecatError(f"The dev crop from {spec.rel_path} at {spec.start_sec:.2f} s cannot be read.")
    return samples


@dataclass
class Preview:
    crops: list[Crop]
    elapsed_sec: float

    def rows(self, index: CropIndex, listen: bool = False) -> list[dict[str, Any]]:
        """One row per crop; with ``listen`` also the command that plays its window from the raw file (SoX's
        ``play``, which reads WAV, FLAC and MP3): hearing a crop writes no audio anywhere."""
        return [
            {
                "k": k,
                "rel_path": str(index.rel_path[c.recording_index]),
                "start_sec": round(c.start_sec, 3),
                "samples": len(c.samples) if c.samples is not None else 0,
                "rms_dbfs": round(c.rms_dbfs, 1),
                "attempts": c.attempts,
                "outcome": c.outcome,
                "policy": c.policy,
                "speech_share": round(c.speech_share, 3),
                **(
                    {
                        "listen": f"play -q {shlex.quote(str(index.path[c.recording_index]))} trim {c.start_sec:.3f} {index.crop_sec:g}"
                    }
                    if listen
                    else {}
                ),
            }
            for k, c in enumerate(self.crops)
        ]

    def totals(self) -> dict[str, Any]:
        n = len(self.crops)
        return {
            "crops": n,
            "silent_rate": round(sum(c.outcome != "ok" for c in self.crops) / n, 4) if n else 0.0,
            "mean_attempts": round(sum(c.attempts for c in self.crops) / n, 3) if n else 0.0,
            "mean_speech_share": round(sum(c.speech_share for c in self.crops) / n, 4) if n else 0.0,
            "with_speech_rate": round(sum(c.speech_share > 0 for c in self.crops) / n, 4) if n else 0.0,
            **{
                f"drawn_by_{policy}": sum(c.policy == policy for c in self.crops)
                for policy in sorted({c.policy for c in self.crops})
            },
            "crops_per_sec": round(n / self.elapsed_sec, 2) if self.elapsed_sec > 0 else None,
        }


def preview_crops(dataset: CropDataset, n: int) -> Preview:
    """Draw crops 0..n-1 of the dataset's epoch exactly as training would, timing them."""
    start = time.perf_counter()
    crops = [dataset.draw(k) for k in range(n)]
    return Preview(crops, time.perf_counter() - start)
