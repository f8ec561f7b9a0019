"""The crop index: every recording crops can come from, as numpy arrays, read back from its snapshot.

Built from the catalog by ``homecat.crop_snapshot`` (the only crop code that touches the catalog); here
it is plain arrays that pickle into DataLoader workers. See ``homecat.crops`` for how crops are drawn.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from homecat.errors import HomecatError

SNAPSHOT_VERSION = 3  # 2: speech turns; 3: whether the speech source processed each recording
SNAPSHOT_KEY = "homecat_crop_index"  # the Parquet schema metadata that holds the index's facts
STR_COLUMNS = ("recording_id", "participant_id", "split", "rel_path", "path")


@dataclass
class CropIndex:
    """Every recording crops can come from, as parallel numpy arrays (one element per recording)."""

    recording_id: np.ndarray
    participant_id: np.ndarray
    split: np.ndarray
    rel_path: np.ndarray
    path: np.ndarray
    sample_rate: np.ndarray  # int32
    channels: np.ndarray  # int16
    frames: np.ndarray  # int64, frames readable (validation's count, not the header's claim)
    window_sec: np.ndarray  # float64, window length of the levels
    activity_threshold_dbfs: np.ndarray  # float32, NaN when unknown
    active_offsets: np.ndarray  # int64, n+1: active_windows[active_offsets[i]:active_offsets[i+1]]
    active_windows: np.ndarray  # int32 window indices, concatenated
    crop_sec: float  # recordings shorter than this were left out
    excluded_short: int = 0
    excluded_short_sec: float = 0.0
    # speech turns, merged (no overlaps), sorted: speech_start_sec[speech_offsets[i]:speech_offsets[i+1]]
    speech_offsets: np.ndarray | None = None  # int64, n+1
    speech_start_sec: np.ndarray | None = None  # float64
    speech_end_sec: np.ndarray | None = None  # float64
    speech_source: str | None = None  # which rows they are (None: none were loaded)
    speech_labels: tuple[str, ...] = ()
    speech_processed: np.ndarray | None = None  # bool: the source looked at the recording (older snapshots: none)

    def __post_init__(self) -> None:
        self.duration_sec = self.frames / np.maximum(self.sample_rate, 1)
        self.cum_duration_sec = np.cumsum(self.duration_sec)
        if self.speech_offsets is None:
            self.speech_offsets = np.zeros(len(self.recording_id) + 1, np.int64)
            self.speech_start_sec = np.zeros(0, np.float64)
            self.speech_end_sec = np.zeros(0, np.float64)
        self.speech_labels = tuple(self.speech_labels)
        if self.speech_processed is None:
            self.speech_processed = np.zeros(len(self.recording_id), bool)

    def __len__(self) -> int:
        return len(self.recording_id)

    @property
    def total_sec(self) -> float:
        return float(self.cum_duration_sec[-1]) if len(self) else 0.0

    @property
    def active_sec(self) -> float:
        """Usable seconds: the active (above-threshold) windows of each recording; all of a recording whose
        activity is unknown (no threshold). What the plan counts passes over: silence is not audio to learn from."""
        counts = np.diff(self.active_offsets)
        active = np.minimum(counts * np.nan_to_num(self.window_sec), self.duration_sec)
        unknown = np.isnan(self.activity_threshold_dbfs) | ~(self.window_sec > 0)
        return float(np.where(unknown, self.duration_sec, active).sum()) if len(self) else 0.0

    def active(self, i: int) -> np.ndarray:
        return self.active_windows[self.active_offsets[i] : self.active_offsets[i + 1]]

    def speech(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Recording i's merged speech turns: (start_sec, end_sec) arrays."""
        lo, hi = self.speech_offsets[i], self.speech_offsets[i + 1]
        return self.speech_start_sec[lo:hi], self.speech_end_sec[lo:hi]

    def speech_share(self, i: int, start_sec: float, duration_sec: float) -> float:
        """Share of [start_sec, start_sec + duration_sec] of recording i covered by its speech turns."""
        starts, ends = self.speech(i)
        if duration_sec <= 0 or len(starts) == 0:
            return 0.0
        return float(covered(starts, ends, start_sec + duration_sec) - covered(starts, ends, start_sec)) / duration_sec

    @property
    def without_speech(self) -> int:
        """Recordings with no speech turns at all."""
        return int(np.sum(np.diff(self.speech_offsets) == 0))

    def speechless_processed(self) -> np.ndarray:
        """Indexes of recordings the speech source processed and found no speech in: no speech crops from them."""
        return np.flatnonzero((np.diff(self.speech_offsets) == 0) & self.speech_processed)

    def summary(self) -> dict[str, Any]:
        return {
            "recordings": len(self),
            "participants": len(set(self.participant_id.tolist())),
            "hours": round(self.total_sec / 3600, 3),
            "recordings_shorter_than_a_crop": self.excluded_short,
            "hours_shorter_than_a_crop": round(self.excluded_short_sec / 3600, 3),
            "crop_sec": self.crop_sec,
            "speech_source": self.speech_source,
            "recordings_without_speech": self.without_speech,
            "recordings_processed_without_speech": len(self.speechless_processed()),
        }

    @classmethod
    def load(cls, path: str | Path) -> CropIndex:
        """Read a snapshot written by ``homecat.crop_snapshot.write_snapshot``."""
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(path)
            meta = json.loads(table.schema.metadata[SNAPSHOT_KEY.encode()])
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise HomecatError(f"{path} is not a crop index snapshot ({exc}).") from None
        if meta.get("version") not in (1, 2, SNAPSHOT_VERSION):
            raise HomecatError(
                f"{path} is a crop index snapshot of version {meta.get('version')}, not {SNAPSHOT_VERSION}."
            )
        windows = table.column("active_windows").combine_chunks()
        speech: dict[str, Any] = {}
        if meta["version"] >= 2:
            starts = table.column("speech_start_sec").combine_chunks()
            speech = dict(
                speech_offsets=starts.offsets.to_numpy().astype(np.int64) if len(starts) else np.zeros(1, np.int64),
                speech_start_sec=starts.values.to_numpy().astype(np.float64),
                speech_end_sec=table.column("speech_end_sec").combine_chunks().values.to_numpy().astype(np.float64),
                speech_source=meta.get("speech_source"),
                speech_labels=tuple(meta.get("speech_labels") or ()),
            )
        if "path_bytes" in table.column_names:  # older snapshots have the text only
            paths = [os.fsdecode(p) for p in table.column("path_bytes").to_pylist()]
        else:
            paths = table.column("path").to_pylist()
        if meta["version"] >= 3:
            speech["speech_processed"] = table.column("speech_processed").to_numpy(zero_copy_only=False).astype(bool)
        return cls(
            **{name: str_array(table.column(name).to_pylist()) for name in STR_COLUMNS if name != "path"},
            path=str_array(paths),
            sample_rate=table.column("sample_rate").to_numpy().astype(np.int32),
            channels=table.column("channels").to_numpy().astype(np.int16),
            frames=table.column("frames").to_numpy().astype(np.int64),
            window_sec=table.column("window_sec").to_numpy().astype(np.float64),
            activity_threshold_dbfs=table.column("activity_threshold_dbfs").to_numpy().astype(np.float32),
            active_offsets=windows.offsets.to_numpy().astype(np.int64) if len(windows) else np.zeros(1, np.int64),
            active_windows=windows.values.to_numpy().astype(np.int32),
            crop_sec=float(meta["crop_sec"]),
            excluded_short=int(meta["excluded_short"]),
            excluded_short_sec=float(meta["excluded_short_sec"]),
            **speech,
        )


def str_array(values: Sequence[str]) -> np.ndarray:
    return np.array(values, dtype=str) if len(values) else np.array([], dtype="U1")


def covered(starts: np.ndarray, ends: np.ndarray, x: np.ndarray | float) -> np.ndarray:
    """Seconds of the merged turns before time ``x`` (vectorised over x)."""
    if len(starts) == 0:
        return np.zeros_like(np.asarray(x, np.float64))
    lengths = ends - starts
    before = np.concatenate([[0.0], np.cumsum(lengths)])
    j = np.searchsorted(starts, x, side="right") - 1
    inside = np.clip(np.asarray(x) - starts[np.maximum(j, 0)], 0.0, lengths[np.maximum(j, 0)])
    return np.where(j >= 0, before[np.maximum(j, 0)] + inside, 0.0)
